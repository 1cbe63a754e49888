/**
 * redis-dr installed on a real control plane the way a user installs it — cert-manager's and
 * prometheus-operator's real CRDs, `kubectl kustomize manifests | kubectl apply --server-side` with the
 * kubectl built at the server's version, the webhook and the controller as pods of their Deployments with
 * their ServiceAccounts and the manifests' RBAC — then what the issue's acceptance lists: the reference's
 * manifests admitted, invalid objects refused with the API server's or the webhook's message, the defects
 * the sandbox hid (Events, names, storage changes, the `rc` short name), kubectl explain and the printer
 * columns, GitOps reverts with client-side and server-side apply, and no 4xx/5xx from the API server in the
 * operator's logs. Range 10.77.0.0/16; runs inside the test network namespace (hack/k8s/test.sh).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { OPERATOR_NAMESPACE, RealCluster, type CommandResult } from "../../hack/k8s/cluster.ts";
import { REPO_ROOT } from "../../hack/sandbox/sandbox.ts";
import { waitFor } from "../../hack/sandbox/testing.ts";
import { NAME_NAMES_OWNED_OBJECTS, STORAGE_IMMUTABLE } from "../../schemas/rediscluster.ts";
import { PROMOTE_ON_CREATE } from "../../webhook/validation/rules/promote-revert.ts";

const RANGE = 77;
const REFERENCE = join(REPO_ROOT, "test/fixtures/reference");

let cluster: RealCluster;

before(async () => {
  // The controller starts at 0 replicas: the reference's manifests are checked at admission only (no pods
  // for their 20 instances); the GitOps part below scales it up.
  cluster = await RealCluster.start({ range: RANGE, operator: true, install: { controllerReplicas: 0 } });
});
after(() => cluster?.stop());

const ok = (args: string[], input?: string) => cluster.kubectlOk(args, input);
const run = (args: string[], input?: string): Promise<CommandResult> => cluster.kubectl(args, input);
const json = async <T>(args: string[]): Promise<T> => JSON.parse(await ok([...args, "-o", "json"])) as T;

const secret = (namespace: string, name: string, data: Record<string, string>) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    stringData: data,
  });

const cluster1 = (name: string, namespace: string, spec: Record<string, unknown>) =>
  JSON.stringify({ apiVersion: "redis.io/v1", kind: "RedisCluster", metadata: { name, namespace }, spec });

describe("redis-dr installed from manifests/ on a real control plane", () => {
  it("runs the webhook as pods of its Deployment, with its ServiceAccount, and the CA injected into both webhook configurations", async () => {
    const pods = await json<{ items: { spec: { serviceAccountName: string }; status: { phase: string } }[] }>(
      ["get", "pods", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/name=redis-dr-webhook"],
    );
    assert.equal(pods.items.length, 2);
    for (const pod of pods.items) {
      assert.equal(pod.spec.serviceAccountName, "redis-dr-webhook");
      assert.equal(pod.status.phase, "Running");
    }
    const tls = await json<{ data: Record<string, string> }>([
      "get",
      "secret",
      "redis-dr-webhook-tls",
      "-n",
      OPERATOR_NAMESPACE,
    ]);
    for (const kind of [
      "validatingwebhookconfiguration/redis-dr-validating",
      "mutatingwebhookconfiguration/redis-dr-mutating",
    ]) {
      const configuration = await json<{
        webhooks: { clientConfig: { caBundle: string; service: unknown } }[];
      }>(["get", kind]);
      for (const webhook of configuration.webhooks)
        assert.equal(webhook.clientConfig.caBundle, tls.data["ca.crt"]);
    }
  });

  it("admits every reference manifest, in the reference's order, through the webhook reached by its Service", async () => {
    await ok(["create", "namespace", "production"]);
    for (const [namespace, name] of [
      ["production", "prod-redis-auth"],
      ["production", "dr-redis-auth"],
      ["default", "redis-password"],
    ] as const)
      await ok(["apply", "-f", "-"], secret(namespace, name, { password: `${name}-pw` }));
    const tls = cluster.plane.issueNodeServingCertificate("redis-tls", "10.77.250.1");
    await ok(
      ["apply", "-f", "-"],
      secret("default", "redis-tls", {
        "tls.crt": readFileSync(tls.cert, "utf8"),
        "tls.key": readFileSync(tls.key, "utf8"),
        "ca.crt": readFileSync(tls.ca, "utf8"),
      }),
    );
    const order = [
      "prod-redis.yaml",
      "dr-redis.yaml",
      "dr-redis-promote.yaml",
      "redis-east.yaml",
      "redis-east-min-sync.yaml",
      "redis-west.yaml",
      "redis-west-failover.yaml",
      "redis-east-recover.yaml",
      "redis-west-tls.yaml",
    ];
    for (const file of order) {
      const result = await run(["apply", "-f", join(REFERENCE, file)]);
      assert.equal(result.status, 0, `${file}: ${result.stderr}`);
    }
    // The mutating webhook (reached through the redis-dr-webhook Service's ClusterIP) filled the default port.
    const port = await ok([
      "get",
      "rdc",
      "dr-redis",
      "-n",
      "production",
      "-o",
      "jsonpath={.spec.replicaMode.source.port}",
    ]);
    assert.equal(port, "6379");
  });

  const refusals: { name: string; object: string; message: RegExp | string }[] = [
    {
      name: "a source port above 65535 (the API server's schema)",
      object: cluster1("big-port", "default", {
        replicaMode: { enabled: true, source: { host: "east.example.com", port: 70000 } },
      }),
      message:
        "spec.replicaMode.source.port: Invalid value: 70000: spec.replicaMode.source.port in body should be less than or equal to 65535",
    },
    {
      name: "a name of 55 characters (the CRD's CEL rule)",
      object: cluster1("a".repeat(55), "default", {}),
      message: NAME_NAMES_OWNED_OBJECTS,
    },
    {
      name: "a name with a dot and a leading digit",
      object: cluster1("1abc.def", "default", {}),
      message: NAME_NAMES_OWNED_OBJECTS,
    },
    {
      name: "promote on create (the webhook)",
      object: cluster1("promoted", "default", {
        authSecret: { name: "redis-password" },
        replicaMode: {
          enabled: true,
          promote: true,
          source: { host: "east.example.com", authSecretName: "redis-password" },
        },
      }),
      message: PROMOTE_ON_CREATE,
    },
    {
      name: "a missing Secret (the webhook)",
      object: cluster1("no-secret", "default", { authSecret: { name: "nowhere" } }),
      message: 'Secret "nowhere" not found in namespace "default"',
    },
  ];
  for (const refusal of refusals) {
    it(`refuses ${refusal.name}`, async () => {
      const result = await run(["apply", "-f", "-"], refusal.object);
      assert.notEqual(result.status, 0);
      assert.ok(result.stderr.includes(String(refusal.message)), result.stderr);
    });
  }

  it("refuses adding storage to an existing cluster, with the CEL rule's message", async () => {
    await ok(
      ["apply", "-f", "-"],
      cluster1("no-storage", "default", { authSecret: { name: "redis-password" } }),
    );
    const result = await run([
      "patch",
      "rdc",
      "no-storage",
      "--type=merge",
      "-p",
      '{"spec":{"storage":{"size":"1Gi"}}}',
    ]);
    assert.notEqual(result.status, 0);
    assert.ok(result.stderr.includes(STORAGE_IMMUTABLE), result.stderr);
  });

  it("keeps `kubectl get rc` for ReplicationControllers; rdc, kubectl explain and the printer columns are ours", async () => {
    const rc = await run(["get", "rc", "-n", "production"]);
    assert.equal(rc.status, 0, rc.stderr);
    assert.match(rc.stderr, /No resources found in production namespace/);
    const rdc = await ok(["get", "rdc", "-n", "production"]);
    const header = rdc.split("\n")[0] ?? "";
    for (const column of [
      "NAME",
      "INSTANCES",
      "READY PODS",
      "MODE",
      "REPLICATING FROM",
      "PRIMARY",
      "LAG",
      "AGE",
    ])
      assert.ok(header.includes(column), header);
    assert.match(rdc, /^dr-redis\s/m);
    const explain = await ok(["explain", "rediscluster.spec.replicaMode"]);
    assert.match(explain, /promote\s+<boolean>/);
    assert.match(explain, /demotionToken\s+<string>/);
  });
});

describe("a promotion made through Git on a real control plane", () => {
  const NS = "gitops";
  const source = cluster1("src", NS, { instances: 1, authSecret: { name: "src-auth" } });
  const replicaMode = {
    enabled: true,
    source: { host: `src-leader.${NS}.svc.cluster.local`, clusterName: "src", authSecretName: "src-auth" },
  };
  const inGit = (promote: boolean) =>
    cluster1("dr", NS, {
      instances: 1,
      authSecret: { name: "dr-auth" },
      replicaMode: promote ? { ...replicaMode, promote: true } : replicaMode,
    });
  const status = (path: string) => ok(["get", "rdc", "dr", "-n", NS, "-o", `jsonpath={${path}}`]);
  let token = "";

  before(async () => {
    await ok(["scale", "deployment/redis-dr-controller", "-n", OPERATOR_NAMESPACE, "--replicas=2"]);
    await ok([
      "rollout",
      "status",
      "deployment/redis-dr-controller",
      "-n",
      OPERATOR_NAMESPACE,
      "--timeout=180s",
    ]);
    await ok(["create", "namespace", NS]);
    await ok(["apply", "-f", "-"], secret(NS, "src-auth", { password: "src-password" }));
    await ok(["apply", "-f", "-"], secret(NS, "dr-auth", { password: "dr-password" }));
    await ok(["apply", "-f", "-"], source);
    await ok(["apply", "-f", "-"], inGit(false));
    await waitFor(async () => (await status(".status.replication.linkStatus")) === "Up", {
      what: "dr replicating from src",
      timeoutMs: 120_000,
      intervalMs: 500,
    });
  });

  it("promotes through a client-side apply of the Git manifest; kubectl get events shows the controller's Events", async () => {
    await ok(["apply", "-f", "-"], inGit(true));
    await waitFor(async () => (await status(".status.promotion.phase")) === "Completed", {
      what: "the promotion completed",
      timeoutMs: 120_000,
      intervalMs: 250,
    });
    token = await status(".status.promotion.replicationId");
    assert.match(token, /^[0-9a-f]{40}$/);
    const events = await json<{
      items: { reason: string; eventTime?: string; reportingComponent: string }[];
    }>([
      "get",
      "events",
      "-n",
      NS,
      "--field-selector",
      "involvedObject.kind=RedisCluster,involvedObject.name=dr",
    ]);
    const reasons = events.items.map((event) => event.reason);
    for (const reason of ["PromotionRequested", "PromotionCompleted"])
      assert.ok(reasons.includes(reason), reasons.join(", "));
    for (const event of events.items) assert.match(event.eventTime ?? "", /\.\d{6}Z$/);
  });

  it("refuses the Git revert applied client-side, with the exact command and token", async () => {
    const revert = await run(["apply", "-f", "-"], inGit(false));
    assert.notEqual(revert.status, 0);
    assert.ok(
      revert.stderr.includes(`"demotionToken":"${token}"`) || revert.stderr.includes(token),
      revert.stderr,
    );
    assert.equal(await status(".spec.replicaMode.promote"), "true");
  });

  it("server-side apply as argocd-controller: a revert of its own promote is refused; a manager that never owned promote leaves it in place", async () => {
    const ssa = (manager: string, object: string) =>
      run(["apply", "--server-side", `--field-manager=${manager}`, "--force-conflicts", "-f", "-"], object);
    const own = await ssa("argocd-controller", inGit(true));
    assert.equal(own.status, 0, own.stderr);
    const revert = await ssa("argocd-controller", inGit(false));
    assert.notEqual(revert.status, 0);
    assert.ok(revert.stderr.includes(token), revert.stderr);
    // A stale manifest from another manager: server-side apply removes only fields that manager owns.
    const stale = await ssa("some-other-manager", inGit(false));
    assert.equal(stale.status, 0, stale.stderr);
    assert.equal(await status(".spec.replicaMode.promote"), "true");
    assert.equal(await status('.status.conditions[?(@.type=="ReplicaMode")].reason'), "Promoted");
    // Defaulting (the webhook's port, the schema's defaults) shows no drift against Git.
    const diff = await run(
      ["diff", "--server-side", "--field-manager=argocd-controller", "--force-conflicts", "-f", "-"],
      inGit(true),
    );
    assert.equal(diff.status, 0, diff.stdout + diff.stderr);
  });

  it("the webhook and the controller logged no 4xx or 5xx answer from the API server", async () => {
    const pods = (await ok(["get", "pods", "-n", OPERATOR_NAMESPACE, "-o", "name"])).trim().split("\n");
    assert.equal(pods.length, 4);
    for (const pod of pods) {
      const logs = await ok(["logs", "-n", OPERATOR_NAMESPACE, pod]);
      assert.ok(logs.length > 0, `${pod} logged nothing`);
      // client-node's errors carry "HTTP-Code: N" in their message and the code in the logged `err`; the
      // webhook's own 422 answers (msg "denied") are not answers from the API server. One answer is the API
      // server's "retry": 429 "storage is (re)initializing" while a just-established CRD's storage starts,
      // which the controller's informers meet when installed with the CRD, and retry.
      const apiErrors = logs
        .split("\n")
        .filter((line) => /HTTP-Code: [45]\d\d|"err":\{[^}]*"(code|statusCode)":[45]\d\d/.test(line))
        .filter((line) => !/HTTP-Code: 429.*storage is \(re\)initializing/.test(line));
      assert.deepEqual(apiErrors, [], `${pod}`);
    }
  });
});
