/**
 * The webhook end to end, through the real admission chain of the local sandbox (mutating webhook, CRD
 * schema and CEL, validating webhook) with real kubectl. No controller runs: the test writes
 * status.promotion through the status subresource, as the controller would after a promotion.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import pino from "pino";
import { startSandbox, type TestSandbox } from "../../hack/sandbox/testing.ts";
import { createKubeApiClient } from "../../webhook/kube/api-client.ts";
import { findCredentials } from "../../webhook/kube/credentials.ts";
import { kubeSecretReader } from "../../webhook/kube/secret-reader.ts";

const TOKEN = "5d1e3f8a9b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e";
/** The loopback range 127.40.0.0/16 belongs to the webhook's tests. */
const RANGE = 40;

let sandbox: TestSandbox | undefined;

before(async () => {
  // The webhook reads the sandbox's own kubeconfig, as a user's webhook reads theirs.
  sandbox = await startSandbox({ range: RANGE });
  await sandbox.sandbox.startWebhook();
  await sandbox.sandbox.installWebhookConfigurations();
});
after(async () => {
  await sandbox?.stop();
});

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function sh(command: string, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", command], {
      env: { ...process.env, KUBECONFIG: sandbox?.kubeconfigPath ?? "" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const kubectl = (args: string, input?: string) => sh(`kubectl ${args}`, input);

async function ok(args: string, input?: string): Promise<string> {
  return (await accepted(args, input)).stdout;
}

async function accepted(args: string, input?: string): Promise<Run> {
  const run = await kubectl(args, input);
  assert.equal(run.code, 0, `kubectl ${args} failed: ${run.stderr}`);
  return run;
}

async function refused(args: string, input?: string): Promise<string> {
  const run = await kubectl(args, input);
  assert.notEqual(run.code, 0, `kubectl ${args} was accepted: ${run.stdout}`);
  return run.stderr;
}

const redisCluster = (name: string, source: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: "redis.io/v1",
    kind: "RedisCluster",
    metadata: { name, namespace: "default" },
    spec: {
      instances: 3,
      storage: { size: "1Gi" },
      authSecret: { name: "redis-password" },
      replicaMode: {
        enabled: true,
        source: { clusterName: "redis-east", authSecretName: "redis-password", ...source },
      },
      ...extra,
    },
  });

const getJson = async (name: string) =>
  JSON.parse(await ok(`get rediscluster ${name} -o json`)) as {
    spec: {
      replicaMode: {
        source: { port?: number };
        promote?: boolean;
        demotionToken?: string;
        topology?: string;
      };
      mode?: string;
    };
    metadata: { resourceVersion: string };
  };

describe("the webhook in the sandbox's admission chain", () => {
  before(async () => {
    await ok(
      "apply -f -",
      JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "redis-password", namespace: "default" },
        stringData: { password: "not-echoed-9f2" },
      }),
    );
  });

  test("kubectl apply with port 70000 is refused with the field error", async () => {
    const stderr = await refused(
      "apply -f -",
      redisCluster("redis-bad-port", { host: "35.123.45.67", port: 70000 }),
    );
    // The API server runs the CRD schema before the validating webhook, so the schema's bound is what the
    // user reads (the webhook says the same thing in its own words when the schema is bypassed).
    assert.equal(
      stderr,
      'The RedisCluster "redis-bad-port" is invalid: spec.replicaMode.source.port: Invalid value: 70000: ' +
        "spec.replicaMode.source.port in body should be less than or equal to 65535\n",
    );
    assert.equal((await kubectl("get rediscluster redis-bad-port")).code, 1);
  });

  test("kubectl apply --dry-run=server is refused the same way", async () => {
    const real = await refused(
      "apply -f -",
      redisCluster("redis-bad-port", { host: "35.123.45.67", port: 70000 }),
    );
    const dry = await refused(
      "apply --dry-run=server -f -",
      redisCluster("redis-bad-port", { host: "35.123.45.67", port: 70000 }),
    );
    assert.equal(dry, real);
  });

  test("a RedisCluster naming a missing Secret is refused, and the Secret's content is never shown", async () => {
    const stderr = await refused(
      "apply -f -",
      redisCluster("redis-no-secret", { host: "35.123.45.67", authSecretName: "redis-east-auth" }),
    );
    assert.match(
      stderr,
      /spec\.replicaMode\.source\.authSecretName: Not found: "redis-east-auth": Secret "redis-east-auth" not found in namespace "default"/,
    );
    assert.doesNotMatch(stderr, /not-echoed-9f2/);
  });

  test("kubectl apply --dry-run=server of a good RedisCluster is admitted, defaulted, and creates nothing", async () => {
    const stdout = await ok(
      "apply --dry-run=server -o json -f -",
      redisCluster("redis-dry", { host: "35.123.45.67" }),
    );
    const dry = JSON.parse(stdout) as { spec: { replicaMode: { source: { port: number } } } };
    assert.equal(dry.spec.replicaMode.source.port, 6379);
    const get = await kubectl("get rediscluster redis-dry");
    assert.equal(get.code, 1);
    assert.match(get.stderr, /NotFound|not found/);
  });

  test("a RedisCluster without a source port gets 6379 (and the other defaults)", async () => {
    await ok("apply -f -", redisCluster("redis-west", { host: "35.123.45.67" }));
    const stored = await getJson("redis-west");
    assert.equal(stored.spec.replicaMode.source.port, 6379);
    assert.equal(stored.spec.replicaMode.topology, "direct");
    assert.equal(stored.spec.mode, "standalone");
  });

  test("a source that is the cluster's own leader Service is refused by the validating webhook", async () => {
    const stderr = await refused(
      "apply -f -",
      redisCluster("redis-loop", { host: "redis-loop-leader.default.svc" }),
    );
    assert.match(
      stderr,
      /spec\.replicaMode\.source\.host: Invalid value: "redis-loop-leader\.default\.svc": is a Service of this RedisCluster \(redis-loop in namespace default\): a cluster cannot replicate from itself/,
    );
  });

  test("promotion with kubectl patch --type=merge is accepted, warning that the link was never seen in sync", async () => {
    const run = await accepted(
      `patch rediscluster redis-west --type=merge -p '{"spec":{"replicaMode":{"promote":true}}}'`,
    );
    assert.match(
      run.stderr,
      /Warning: spec\.replicaMode\.promote: the leader was never seen in sync with the source; lag unknown: unreplicated writes are lost/,
    );
    assert.equal((await getJson("redis-west")).spec.replicaMode.promote, true);
  });

  test("reverting the completed promotion is refused with the command, which works when run as is", async () => {
    // What the controller records once the promoted leader accepts writes.
    await ok(
      "patch rediscluster redis-west --subresource=status --type=merge -p " +
        quote(JSON.stringify({ status: { promotion: { phase: "Completed", replicationId: TOKEN } } })),
    );
    const revert = `patch rediscluster redis-west --type=merge -p '{"spec":{"replicaMode":{"promote":false}}}'`;
    const before = (await getJson("redis-west")).metadata.resourceVersion;

    const dryStderr = await refused(`${revert} --dry-run=server`);
    const stderr = await refused(revert);
    assert.equal(dryStderr, stderr);
    const command = `kubectl patch rediscluster redis-west -n default --type=merge -p '{"spec":{"replicaMode":{"promote":false,"demotionToken":"${TOKEN}"}}}'`;
    assert.ok(stderr.includes(command), stderr);
    assert.equal((await getJson("redis-west")).metadata.resourceVersion, before);

    const run = await sh(command);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /Warning: spec\.replicaMode\.enabled: data will be replaced by a full copy of redis-east \(35\.123\.45\.67:6379\); writes since the promotion are lost/,
    );
    const stored = await getJson("redis-west");
    assert.equal(stored.spec.replicaMode.promote, false);
    assert.equal(stored.spec.replicaMode.demotionToken, TOKEN);
  });
});

describe("kubeSecretReader against the sandbox's API server", () => {
  test("reads the names of a Secret's non-empty keys, and nothing for a missing Secret", async () => {
    await ok(
      "apply -f -",
      JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "redis-tls-partial", namespace: "default" },
        data: {
          "tls.crt": Buffer.from("cert").toString("base64"),
          "tls.key": "",
          "ca.crt": Buffer.from("ca").toString("base64"),
        },
      }),
    );
    const api = createKubeApiClient(findCredentials({ env: { KUBECONFIG: sandbox?.kubeconfigPath ?? "" } }));
    const reader = kubeSecretReader(api, pino({ level: "silent" }));
    assert.deepEqual([...((await reader.secretKeys("default", "redis-tls-partial")) ?? [])].sort(), [
      "ca.crt",
      "tls.crt",
    ]);
    assert.equal(await reader.secretKeys("default", "no-such-secret"), undefined);
    api.close();
  });
});
