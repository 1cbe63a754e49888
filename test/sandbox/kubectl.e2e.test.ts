/**
 * Real kubectl against the sandbox: apply (client-side, with last-applied and strategic/merge patches),
 * get with the CRD's printer columns, patch --type=merge, describe with Events, delete.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { startSandbox, waitFor, type TestSandbox } from "../../hack/sandbox/testing.ts";

/** 127.12.0.0/16: this file's sandbox. */
const RANGE = 12;

let sb: TestSandbox;
before(async () => {
  sb = await startSandbox({ range: RANGE });
});
after(() => sb?.stop());

function kubectl(
  args: string[],
  input = "",
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("kubectl", args, { env: { ...process.env, KUBECONFIG: sb.kubeconfigPath } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const run = await kubectl(args, input);
  assert.equal(run.code, 0, `kubectl ${args.join(" ")} failed: ${run.stderr}`);
  return run.stdout;
}

const MANIFEST = (password: string, instances: number) => `
apiVersion: v1
kind: Secret
metadata:
  name: west-auth
stringData:
  password: ${password}
---
apiVersion: redis.io/v1
kind: RedisCluster
metadata:
  name: east
spec:
  instances: ${instances}
  replicaMode:
    enabled: true
    source:
      host: west.example.com
      clusterName: west
      authSecretName: west-auth
`;

describe("kubectl", () => {
  test("apply creates, re-apply patches, get shows the printer columns", async () => {
    assert.equal(
      await ok(["apply", "-f", "-"], MANIFEST("first", 3)),
      "secret/west-auth created\nrediscluster.redis.io/east created\n",
    );
    assert.equal(
      await ok(["apply", "-f", "-"], MANIFEST("second", 2)),
      "secret/west-auth configured\nrediscluster.redis.io/east configured\n",
    );
    const password = await ok(["get", "secret", "west-auth", "-o", "jsonpath={.data.password}"]);
    assert.equal(Buffer.from(password, "base64").toString(), "second");
    assert.equal(
      await ok([
        "get",
        "rdc",
        "east",
        "-o",
        "jsonpath={.spec.instances} {.spec.replicaMode.source.port} {.metadata.generation}",
      ]),
      "2 6379 2",
    );
    const table = await ok(["get", "redisclusters"]);
    const [header, row] = table.trim().split("\n");
    assert.deepEqual(header?.split(/\s{2,}/), [
      "NAME",
      "INSTANCES",
      "READY PODS",
      "MODE",
      "REPLICATING FROM",
      "PRIMARY",
      "LAG",
      "READY",
      "AGE",
    ]);
    assert.match(row ?? "", /^east\s+2\s+standalone\s+\d+s$/);
  });

  test("the short name rdc is the RedisClusters', rc stays the ReplicationControllers'", async () => {
    assert.equal(await ok(["get", "rdc", "-o", "name"]), "rediscluster.redis.io/east\n");
    const controllers = await kubectl(["get", "rc"]);
    assert.deepEqual(
      [controllers.code, controllers.stdout, controllers.stderr.trim()],
      [0, "", "No resources found in default namespace."],
    );
  });

  test("patch --type=merge changes the spec and reports schema errors like the API server", async () => {
    assert.equal(
      await ok([
        "patch",
        "rdc",
        "east",
        "--type=merge",
        "-p",
        '{"spec":{"replicaMode":{"source":{"port":6380}}}}',
      ]),
      "rediscluster.redis.io/east patched\n",
    );
    assert.equal(await ok(["get", "rdc", "east", "-o", "jsonpath={.spec.replicaMode.source.port}"]), "6380");
    const refused = await kubectl([
      "patch",
      "rdc",
      "east",
      "--type=merge",
      "-p",
      '{"spec":{"replicaMode":{"source":{"port":70000}}}}',
    ]);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr.trim(),
      'The RedisCluster "east" is invalid: spec.replicaMode.source.port: Invalid value: 70000: spec.replicaMode.source.port in body should be less than or equal to 65535',
    );
  });

  test("get -w prints a row per change with the printer columns", async () => {
    const watcher = spawn("kubectl", ["get", "rdc", "-w"], {
      env: { ...process.env, KUBECONFIG: sb.kubeconfigPath },
    });
    let seen = "";
    watcher.stdout.on("data", (c: Buffer) => (seen += c.toString()));
    try {
      await waitFor(() => seen.includes("east"), { what: "the first row" });
      await ok(["patch", "rdc", "east", "--type=merge", "-p", '{"spec":{"instances":4}}']);
      await waitFor(() => /^east\s+4\s+standalone\s/m.test(seen), { what: "the watched change" });
    } finally {
      watcher.kill();
    }
    assert.match(seen.split("\n")[0] ?? "", /^NAME\s+INSTANCES\s+READY PODS\s+MODE/);
  });

  test("describe shows the object and its Events", async () => {
    const uid = await ok(["get", "rdc", "east", "-o", "jsonpath={.metadata.uid}"]);
    await ok(
      ["create", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: "east.1", namespace: "default" },
        involvedObject: {
          apiVersion: "redis.io/v1",
          kind: "RedisCluster",
          name: "east",
          namespace: "default",
          uid,
        },
        reason: "ReplicationStarted",
        message: "Cluster is replicating from west (west.example.com:6380)",
        type: "Normal",
        source: { component: "redis-dr-controller" },
        firstTimestamp: new Date().toISOString(),
        lastTimestamp: new Date().toISOString(),
        count: 1,
      }),
    );
    const described = await ok(["describe", "rdc", "east"]);
    assert.match(described, /^Name:\s+east$/m);
    assert.match(described, /Host:\s+west\.example\.com/);
    assert.match(
      described,
      /Normal\s+ReplicationStarted\s+\S+\s+redis-dr-controller\s+Cluster is replicating from west \(west\.example\.com:6380\)/,
    );
  });

  test("apply refuses fields the CRD does not declare (kubectl asks for strict field validation)", async () => {
    const run = await kubectl(
      ["apply", "-f", "-"],
      MANIFEST("x", 2).replace("  instances: 2\n", "  instances: 2\n  shards: 3\n"),
    );
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /RedisCluster in version "v1" cannot be handled as a RedisCluster: strict decoding error: unknown field "spec\.shards"/,
    );
  });

  test("create namespace and create secret generic (kubectl's typed clients send protobuf)", async () => {
    assert.equal(await ok(["create", "namespace", "team"]), "namespace/team created\n");
    assert.equal(
      await ok(["-n", "team", "create", "secret", "generic", "auth", "--from-literal=password=pw"]),
      "secret/auth created\n",
    );
    assert.equal(
      await ok(["-n", "team", "get", "secret", "auth", "-o", "jsonpath={.data.password}"]),
      Buffer.from("pw").toString("base64"),
    );
    assert.equal(
      await ok(["get", "namespace", "team", "-o", "jsonpath={.metadata.labels}"]),
      '{"kubernetes.io/metadata.name":"team"}',
    );
  });

  test("exec runs a command in a pod (WebSocket protocol), with stdin and the exit code; logs shows its output", async () => {
    await ok(["run", "cache", "--image=redis:7.2", "--restart=Never"]);
    await ok(["wait", "--for=condition=Ready", "pod/cache", "--timeout=30s"]);
    const run = await kubectl(["exec", "cache", "--", "sh", "-c", "hostname; echo oops >&2; exit 3"]);
    assert.deepEqual(
      [run.code, run.stdout, run.stderr],
      [3, "cache\n", "oops\ncommand terminated with exit code 3\n"],
    );
    await waitFor(async () => /Ready to accept connections/.test(await ok(["logs", "cache", "--tail=1"])), {
      what: "redis-server to listen",
    });
    const piped = await ok(["exec", "-i", "cache", "--", "redis-cli"], "PING\nSET k v\nGET k\n");
    assert.equal(piped, "PONG\nOK\nv\n");
  });

  test("apply of a kind nobody serves fails as on a cluster without its CRD", async () => {
    const run = await kubectl(
      ["apply", "-f", "-"],
      "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata:\n  name: ca\nspec: {}\n",
    );
    assert.equal(run.code, 1);
    assert.match(run.stderr, /no matches for kind "Issuer" in version "cert-manager\.io\/v1"/);
  });

  test("delete removes the objects", async () => {
    assert.equal(
      await ok(["delete", "-f", "-"], MANIFEST("x", 1)),
      'secret "west-auth" deleted\nrediscluster.redis.io "east" deleted\n',
    );
    const gone = await kubectl(["get", "rdc", "east"]);
    assert.equal(gone.stderr.trim(), 'Error from server (NotFound): redisclusters.redis.io "east" not found');
  });
});
