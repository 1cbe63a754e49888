/**
 * A steady cluster costs the real kube-apiserver no read from the controller: its own
 * `apiserver_request_total` (by verb and resource), read before and after a window in which nothing changes,
 * shows no GET or LIST of the kinds only the controller reads — RedisClusters, StatefulSets, Services,
 * PodDisruptionBudgets. (Secrets and pods cannot be told apart by this metric: the node agent GETs the pods'
 * Secrets for their volumes, a few a second; the controller's are GETs by name every 60 s.) The
 * controller reads them from its informers' caches (controller/README.md, "What it reads from the API
 * server"). Range 10.97.0.0/16; runs inside the test network namespace (hack/k8s/test.sh).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { KubeConfig, type V1StatefulSet } from "@kubernetes/client-node";
import pino from "pino";
import { parseRequestTotals, requestDeltas } from "../../hack/k8s/apiserver-metrics.ts";
import { RealCluster } from "../../hack/k8s/cluster.ts";
import { waitFor } from "../../hack/sandbox/testing.ts";
import { makeInformers } from "../../controller/watch/informers.ts";

const RANGE = 97;
const NS = "steady";
const WINDOW_MS = 30_000;
/** Read only by the controller (the other control-plane components list and watch them). */
const CONTROLLER_ONLY = ["redisclusters", "statefulsets", "services", "poddisruptionbudgets"];

let cluster: RealCluster;

before(async () => {
  cluster = await RealCluster.start({
    range: RANGE,
    operator: true,
    install: { controllerReplicas: 1, env: { LOG_LEVEL: "debug" } },
  });
});
after(async () => {
  await cluster?.stop();
});

const ok = (args: string[], input?: string) => cluster.kubectlOk(args, input);

/** apiserver_request_total summed by "VERB resource" (hack/k8s/apiserver-metrics.ts). */
const requestTotals = async (): Promise<Map<string, number>> =>
  parseRequestTotals(await ok(["get", "--raw", "/metrics"]));

describe("the controller on the real control plane", () => {
  it("a steady cluster costs no API reads of what the controller caches, counted by the API server", async (t) => {
    await ok(["create", "namespace", NS]);
    await ok(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "steady-auth", namespace: NS },
        stringData: { password: "steady-password" },
      }),
    );
    await ok(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: "steady", namespace: NS },
        spec: { instances: 2, storage: { size: "1Gi" }, authSecret: { name: "steady-auth" } },
      }),
    );
    const status = (path: string) => ok(["get", "rdc", "steady", "-n", NS, "-o", `jsonpath={${path}}`]);
    await waitFor(
      async () =>
        (await status(".status.readyInstances")) === "2" &&
        (await status(".status.currentPrimary")) === "steady-0",
      { timeoutMs: 180_000, intervalMs: 1000, what: "2 ready pods, steady-0 the primary" },
    );
    // The start-up settles: the last status writes, and the API server's re-initialisation of the custom
    // resources' storage (its watches answer 429 meanwhile, and a cache that is behind costs a GET a pass).
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    const windowStart = Date.now();

    const before = await requestTotals();
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
    const after = await requestTotals();
    const delta = [...requestDeltas(before, after)];
    t.diagnostic(`API requests in ${WINDOW_MS / 1000} s: ${JSON.stringify(Object.fromEntries(delta))}`);
    const log = await ok([
      "logs",
      "-n",
      "redis-dr-system",
      "deployment/redis-dr-controller",
      "--tail",
      "400",
    ]);
    t.diagnostic(`window from ${windowStart}`);
    for (const line of log.split("\n").filter((l) => /read afresh|conflict|watch failed/.test(l))) {
      t.diagnostic(line);
    }
    const reads = delta.filter(([key]) => {
      const [verb, resource] = key.split(" ");
      return (verb === "GET" || verb === "LIST") && CONTROLLER_ONLY.includes(resource ?? "");
    });
    // The metric cannot say who read, nor why: a RedisCluster GET may follow one of the controller's own
    // status writes whose watch event had not arrived by the next pass (a cache behind its own write is
    // read afresh, once). So: no LIST and no read of the owned objects (nothing wrote them), and at most one
    // RedisCluster GET per status write — a controller reading per pass would read each kind once a pass
    // (six passes in the window at the 5 s resync).
    const count = (key: string) => delta.find(([k]) => k === key)?.[1] ?? 0;
    assert.deepEqual(
      reads.filter(([key]) => key !== "GET redisclusters"),
      [],
    );
    assert.ok(
      count("GET redisclusters") <= count("PATCH redisclusters/status"),
      `${count("GET redisclusters")} RedisCluster GETs for ${count("PATCH redisclusters/status")} status writes`,
    );
  });

  it("keeps no managedFields in its caches, which the real API server sends with every object", async () => {
    // The controller's informers, in this process, on the cluster the first test made.
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfigPath);
    const informers = makeInformers(kubeConfig, NS, () => undefined, pino({ level: "silent" }));
    informers.start();
    try {
      await informers.synced;
      const cached = {
        cluster: informers.cache.cluster(NS, "steady"),
        statefulSet: informers.cache.statefulSet(NS, "steady"),
        service: informers.cache.service(NS, "steady-leader"),
        podDisruptionBudget: informers.cache.podDisruptionBudget(NS, "steady"),
        pod: informers.cache.pods(NS, "steady").find((pod) => pod.metadata?.name === "steady-0"),
      };
      for (const [kind, object] of Object.entries(cached)) {
        assert.notEqual(object, undefined, `${kind} cached`);
        assert.equal(object?.metadata?.managedFields, undefined, `${kind} cached without managedFields`);
      }
      // Of the owned kinds the reconcile only checks by existence and annotation, the metadata alone.
      for (const kind of ["statefulSet", "service", "podDisruptionBudget"] as const) {
        const fields = Object.keys(cached[kind] ?? {}).filter((f) => !["apiVersion", "kind"].includes(f));
        assert.deepEqual(fields, ["metadata"], `${kind} cached as its metadata only`);
      }
      assert.notEqual(cached.pod?.status?.podIP, undefined, "a pod is cached whole");
      assert.equal(cached.cluster?.spec.instances, 2, "a RedisCluster is cached whole");
      // As the API server has them: with managedFields (so the test could fail).
      const fields = await ok([
        "get",
        "statefulset",
        "steady",
        "-n",
        NS,
        "--show-managed-fields",
        "-o",
        "json",
      ]);
      const served = (JSON.parse(fields) as V1StatefulSet).metadata?.managedFields ?? [];
      assert.ok(served.length > 0, "the API server sends managedFields");
    } finally {
      await informers.stop();
    }
  });
});
