/**
 * Promotion benchmark on the real control plane (hack/k8s/): the measurement of hack/bench/promotion.ts
 * (hack/bench/lib/promotion.ts) against upstream Kubernetes v1.37.2 instead of the sandbox.
 *
 *   npm run bench:promotion-real [-- --quick] [--runs N] [--json PATH]
 *
 * `npm run bench:promotion-real` runs this file inside a network namespace of its own (hack/k8s/in-netns.sh,
 * as hack/k8s/test.sh runs the real-control-plane tests), after hack/k8s/build.sh has found (or built) the
 * binaries. Needs root. Cluster range 62: 10.62.0.0/16; the external source redis-server listens on
 * 127.62.60.1 inside that network namespace, where the pods reach it (as the e2e files' sources do on the
 * real back end). Writes hack/bench/results/promotion-real.json (the fields of promotion.json).
 *
 * The cluster is the e2e tests' real back end (hack/k8s/testing.ts): two nodes run by node agents, redis-dr
 * installed from manifests/, the webhook and the controller as the pods of their Deployments (2 replicas
 * each, the controller with leader election), the API server calling the webhook through its Service. The
 * DR cluster's pods are real redis-server processes on their pod IPs. Unlike the sandbox bench, the status
 * poller (c) and the wait for the pods to be gone read through the API server (GET every 10 ms while
 * promoting, a LIST every 100 ms after the delete): there is no store to read in-process.
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { ApiException, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";
import { startTestCluster } from "../k8s/testing.ts";
import type { TestCluster } from "../sandbox/testing.ts";
import { NS, PromotionBench, SOURCE_PASSWORD, group, report, runAlternating } from "./lib/promotion.ts";
import { poll, startRedisServer } from "./lib/redis.ts";
import { round } from "./lib/stats.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    json: { type: "string", default: "hack/bench/results/promotion-real.json" },
  },
});
const QUICK = values.quick ?? false;
/** Runs per condition (with load, without load). */
const RUNS = Number(values.runs ?? (QUICK ? 2 : 20));
/** The cluster's range: 10.62.0.0/16; the source on 127.62.60.1 in the same network namespace. */
const RANGE = 62;

async function main(): Promise<void> {
  const source = await startRedisServer(`127.${RANGE}.60.1`, 6379, SOURCE_PASSWORD);
  let cluster: TestCluster | undefined;
  const started = performance.now();
  try {
    cluster = await startTestCluster({ backend: "real", range: RANGE, webhook: true, controller: true });
    console.log(`cluster ${RANGE} up in ${round((performance.now() - started) / 1000, 1)} s`);
    const custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const bench = new PromotionBench(
      {
        cluster,
        stored: async (name) => {
          try {
            return (await custom.getNamespacedCustomObject({ ...group, name })) as RedisCluster;
          } catch (error) {
            if (error instanceof ApiException && error.code === 404) return undefined;
            throw error;
          }
        },
        podsGone: async (name) =>
          (await core.listNamespacedPod({ namespace: NS })).items.every(
            (pod) => !pod.metadata?.name?.startsWith(`${name}-`),
          ),
      },
      source,
    );
    await bench.setUp();
    // The webhook's pods report ready a moment before the API server reaches them through the Service:
    // wait until a server-side dry run of the bench's RedisCluster is admitted.
    await poll(
      "the webhook admitting requests",
      async () => {
        await custom.createNamespacedCustomObject({ ...group, body: bench.manifest("probe"), dryRun: "All" });
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const results = await runAlternating(bench, RUNS);
    await report(results, {
      runs: RUNS,
      title:
        "Promotion of a 3-instance DR cluster (direct) on the real control plane (kube-apiserver v1.37.2, " +
        "controller and webhook as pods)",
      started,
      json: values.json ?? "hack/bench/results/promotion-real.json",
    });
  } finally {
    await cluster?.stop();
    await source.stop();
  }
}

await main();
