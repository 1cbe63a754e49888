/**
 * The Redis pods pass Pod Security `restricted`, judged by the real API server's PodSecurity admission: in a
 * namespace that enforces it, a primary cluster (with its Sentinel sidecar) and a DR replica of it are
 * admitted, run as the image's redis user and replicate; a plain pod is refused there (the label is
 * enforced). Then the PodDisruptionBudget the controller makes: owned by the RedisCluster, computed by the
 * real disruption controller, enforced by the real Eviction API. Range 10.58.0.0/16; runs inside the test
 * network namespace (hack/k8s/test.sh).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { RealCluster } from "../../hack/k8s/cluster.ts";
import { waitFor } from "../../hack/sandbox/testing.ts";

const RANGE = 58;
const NS = "secure";

let cluster: RealCluster;
const clients: Redis[] = [];

before(async () => {
  cluster = await RealCluster.start({ range: RANGE, operator: true, install: { controllerReplicas: 1 } });
});
after(async () => {
  for (const client of clients) client.disconnect();
  await cluster?.stop();
});

const ok = (args: string[], input?: string) => cluster.kubectlOk(args, input);
const object = (value: unknown) => JSON.stringify(value);
const secret = (name: string, password: string) =>
  object({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace: NS }, stringData: { password } });
const redisCluster = (name: string, spec: Record<string, unknown>) =>
  object({ apiVersion: "redis.io/v1", kind: "RedisCluster", metadata: { name, namespace: NS }, spec });

const podIp = (name: string) => cluster.kubeletOf(name, NS)?.podIp(NS, name);
function redis(name: string, password: string, username?: string): Redis {
  const host = podIp(name);
  assert.ok(host, `${name} is not running`);
  const client = new Redis({
    host,
    port: 6379,
    username,
    password,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
  });
  clients.push(client);
  return client;
}

const uidsOf = (pod: string, container: string): string => {
  const pid = cluster.kubeletOf(pod, NS)?.containerPid(NS, pod, container);
  assert.ok(pid !== undefined, `${pod}/${container} has no process`);
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return ["Uid", "Gid", "Groups"]
    .map((key) => new RegExp(`^${key}:\\s*(.*)$`, "m").exec(status)?.[1]?.trim())
    .join(" / ");
};

describe("Redis pods in a namespace enforcing Pod Security restricted", () => {
  before(async () => {
    await ok(["create", "namespace", NS]);
    await ok([
      "label",
      "namespace",
      NS,
      "pod-security.kubernetes.io/enforce=restricted",
      "pod-security.kubernetes.io/enforce-version=latest",
    ]);
  });

  it("refuses a plain pod there: the label is enforced", async () => {
    const result = await cluster.kubectl(
      ["apply", "-f", "-"],
      object({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "plain", namespace: NS },
        spec: { containers: [{ name: "redis", image: "redis:7.2" }] },
      }),
    );
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /pods "plain" is forbidden: violates PodSecurity "restricted:latest"/);
    assert.match(result.stderr, /allowPrivilegeEscalation != false/);
    assert.match(result.stderr, /runAsNonRoot != true/);
  });

  it("admits a primary with its Sentinel and a DR replica of it: Running, as uid 999, replicating", async () => {
    await ok(["apply", "-f", "-"], secret("src-auth", "src-password"));
    await ok(["apply", "-f", "-"], secret("dr-auth", "dr-password"));
    await ok(
      ["apply", "-f", "-"],
      redisCluster("src", { instances: 1, mode: "sentinel", authSecret: { name: "src-auth" } }),
    );
    await ok(
      ["apply", "-f", "-"],
      redisCluster("dr", {
        instances: 2,
        storage: { size: "1Gi" },
        authSecret: { name: "dr-auth" },
        replicaMode: {
          enabled: true,
          source: {
            host: `src-leader.${NS}.svc.cluster.local`,
            clusterName: "src",
            authSecretName: "src-auth",
          },
        },
      }),
    );
    const status = (path: string) => ok(["get", "rdc", "dr", "-n", NS, "-o", `jsonpath={${path}}`]);
    await waitFor(async () => (await status(".status.replication.linkStatus")) === "Up", {
      what: "dr replicating from src",
      timeoutMs: 180_000,
      intervalMs: 500,
    });
    // No pod of either StatefulSet was refused by admission.
    const failed = JSON.parse(
      await ok([
        "get",
        "events",
        "-n",
        NS,
        "--field-selector",
        "involvedObject.kind=StatefulSet,reason=FailedCreate",
        "-o",
        "json",
      ]),
    ) as { items: { message: string }[] };
    assert.deepEqual(
      failed.items.map((e) => e.message),
      [],
    );
    const phases = await ok(["get", "pods", "-n", NS, "-o", "jsonpath={.items[*].status.phase}"]);
    assert.deepEqual(phases.split(" ").sort(), ["Running", "Running", "Running"]);
    for (const [pod, container] of [
      ["src-0", "redis"],
      ["src-0", "sentinel"],
      ["dr-0", "redis"],
      ["dr-1", "redis"],
    ] as const)
      assert.equal(
        uidsOf(pod, container),
        "999\t999\t999\t999 / 999\t999\t999\t999 / 999",
        `${pod}/${container}`,
      );
    // Data flows from the primary to both DR pods, which persist it on their claims as uid 999. SAVE is
    // @admin, refused to the application's user: the controller's own user (the users Secret) asks for it.
    await redis("src-0", "src-password").set("restricted", "still-replicated");
    const users = JSON.parse(await ok(["get", "secret", "dr-redis-dr-users", "-n", NS, "-o", "json"])) as {
      data: { admin: string };
    };
    const admin = Buffer.from(users.data.admin, "base64").toString();
    for (const pod of ["dr-0", "dr-1"]) {
      const replica = redis(pod, "dr-password");
      await waitFor(async () => (await replica.get("restricted")) === "still-replicated", {
        what: `the key on ${pod}`,
        timeoutMs: 30_000,
      });
      await assert.rejects(replica.save(), /NOPERM/);
      assert.equal(await redis(pod, admin, "redis-dr-admin").save(), "OK");
    }
  });

  it("gives each cluster a PodDisruptionBudget it owns, which the Eviction API enforces", async () => {
    const pdb = JSON.parse(await ok(["get", "pdb", "dr", "-n", NS, "-o", "json"])) as {
      metadata: { ownerReferences: { kind: string; name: string; controller: boolean }[] };
      spec: { maxUnavailable: number; selector: unknown };
      status?: { disruptionsAllowed?: number; currentHealthy?: number; expectedPods?: number };
    };
    assert.deepEqual(
      pdb.metadata.ownerReferences.map((o) => [o.kind, o.name, o.controller]),
      [["RedisCluster", "dr", true]],
    );
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.deepEqual(pdb.spec.selector, { matchLabels: { "redis.io/cluster": "dr" } });
    const budget = async () =>
      (JSON.parse(await ok(["get", "pdb", "dr", "-n", NS, "-o", "json"])) as typeof pdb).status ?? {};
    await waitFor(async () => (await budget()).disruptionsAllowed === 1, {
      what: "the disruption controller allowing one disruption",
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    // One pod down (paused: its readiness probe fails): the budget is spent.
    const eviction = (name: string) =>
      cluster.admin.exchange("POST", `/api/v1/namespaces/${NS}/pods/${name}/eviction`, {
        apiVersion: "policy/v1",
        kind: "Eviction",
        metadata: { name, namespace: NS },
      });
    cluster.kubeletOf("dr-1", NS)?.signalPod(NS, "dr-1", "SIGSTOP");
    await waitFor(async () => (await budget()).disruptionsAllowed === 0, {
      what: "the budget spent by the paused pod",
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    const refused = await eviction("dr-0");
    assert.equal(refused.code, 429, JSON.stringify(refused.body));
    assert.match(
      String((refused.body as { message?: unknown }).message),
      /Cannot evict pod as it would violate the pod's disruption budget/,
    );
    // The pod that is down may go (unhealthyPodEvictionPolicy: AlwaysAllow): a broken pod never blocks a drain.
    const allowed = await eviction("dr-1");
    assert.equal(allowed.code, 201, JSON.stringify(allowed.body));
  });
});
