/**
 * Promotion benchmark: how long a DR cluster takes to become a writable standalone primary once the
 * promotion patch is accepted, with and without a write load on the source, on the sandbox with the real
 * webhook and controller.
 *
 *   npm run bench:promotion [-- --quick] [--runs N] [--json PATH]
 *
 * Each run creates a fresh 3-instance DR cluster (`direct` topology) replicating from an external source
 * redis-server holding 1000 keys, waits until every pod is linked and has the keys, optionally starts a write
 * load on the source (2000 SET/s, pipelined in ticks of 10 ms), records every key the pods hold and their
 * `sync_full` counters, then sends `{"spec":{"replicaMode":{"promote":true}}}` as a merge patch. From the
 * moment the API server answers the patch (accepted, after admission) it measures, polling side by side:
 *   (a) writable   the leader's podIP answers SET with OK (every 5 ms)
 *   (b) attached   the leader is a master with every replica `state=online`, and every replica says
 *                  `master_host:<leader>` and `master_link_status:up` (every 10 ms)
 *   (c) promoted   status: ReplicaMode False/Promoted (read from the API server's store every 10 ms)
 * then checks that no pod served a full resync (sum of `sync_full` deltas over the pods) and that every key
 * any pod held before the patch is on every pod afterwards. The cluster is deleted after each run.
 *
 * One sandbox (range 51). Runs alternate with and without load so drift on this shared machine hits both alike.
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";
import { startSandbox, type TestSandbox } from "../sandbox/testing.ts";
import { NS, PromotionBench, SOURCE_PASSWORD, report, runAlternating } from "./lib/promotion.ts";
import { startRedisServer } from "./lib/redis.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    json: { type: "string", default: "hack/bench/results/promotion.json" },
  },
});
const QUICK = values.quick ?? false;
/** Runs per condition (with load, without load). */
const RUNS = Number(values.runs ?? (QUICK ? 2 : 20));
/** The sandbox's loopback range: 127.51/16. */
const RANGE = 51;

async function main(): Promise<void> {
  const source = await startRedisServer(`127.${RANGE}.60.1`, 6379, SOURCE_PASSWORD);
  let sb: TestSandbox | undefined;
  const started = performance.now();
  try {
    sb = await startSandbox({ range: RANGE, webhook: true, controller: true, operatorForm: "shipped" });
    const core = sb.sandbox.core;
    const bench = new PromotionBench(
      {
        cluster: sb,
        // The stored RedisCluster and pods, read in-process: polling them costs the API server nothing.
        stored: (name) =>
          core.tryGet(core.type("redis.io", "v1", "redisclusters"), NS, name) as RedisCluster | undefined,
        podsGone: (name) =>
          core.store.list("/pods", NS).every((pod) => !pod.metadata.name?.startsWith(`${name}-`)),
      },
      source,
    );
    await bench.setUp();
    const results = await runAlternating(bench, RUNS);
    await report(results, {
      runs: RUNS,
      title: "Promotion of a 3-instance DR cluster (direct)",
      started,
      json: values.json ?? "hack/bench/results/promotion.json",
    });
  } finally {
    await sb?.stop();
    await source.stop();
  }
}

await main();
