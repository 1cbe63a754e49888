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
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";
import { startSandbox, type TestSandbox } from "../sandbox/testing.ts";
import { machineDescription, median, percentile, printTable, round, writeJson } from "./lib/stats.ts";
import { infoField, poll, redisClient, startRedisServer, startWriteLoad } from "./lib/redis.ts";
import type { RedisServer } from "./lib/redis.ts";
import { createNamespaceWithPasswords } from "./lib/kube.ts";

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
const NS = "bench";
const INSTANCES = 3;
const SEED_KEYS = 1000;
const SOURCE_PASSWORD = "bench-source-pw-31d9";
const CLUSTER_PASSWORD = "bench-cluster-pw-6c02";
const group = { group: "redis.io", version: "v1", namespace: NS, plural: "redisclusters" };
const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

interface RunResult {
  readonly run: number;
  readonly load: boolean;
  readonly writableMs: number;
  readonly attachedMs: number;
  readonly promotedMs: number;
  /** Full resyncs served by any pod during the promotion (sum of sync_full deltas). */
  readonly fullResyncs: number;
  readonly leaderPartialResyncs: number;
  readonly keysBefore: number;
  readonly keysLost: number;
  readonly loadKeysWritten: number;
}

class Bench {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  constructor(
    readonly sb: TestSandbox,
    private readonly source: RedisServer,
  ) {
    this.custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = sb.kubeConfig.makeApiClient(CoreV1Api);
  }

  async setUp(): Promise<void> {
    await createNamespaceWithPasswords(this.core, NS, {
      "dr-auth": CLUSTER_PASSWORD,
      "prod-auth": SOURCE_PASSWORD,
    });
  }

  /** The stored RedisCluster, read in-process: polling it costs the API server nothing. */
  private stored(name: string): RedisCluster | undefined {
    const core = this.sb.sandbox.core;
    return core.tryGet(core.type("redis.io", "v1", "redisclusters"), NS, name) as RedisCluster | undefined;
  }

  private podIPs(name: string): string[] {
    return Array.from({ length: INSTANCES }, (_, i) => {
      const ip = this.sb.podIP(`${name}-${i}`, NS);
      if (ip === undefined) throw new Error(`${name}-${i} has no IP`);
      return ip;
    });
  }

  private async seedSource(): Promise<void> {
    const client = this.source.client();
    try {
      await client.flushall();
      const pipeline = client.pipeline();
      for (let i = 0; i < SEED_KEYS; i++) pipeline.set(`seed:${i}`, `value-${i}`);
      await pipeline.exec();
    } finally {
      client.disconnect();
    }
  }

  /** Creates the DR cluster and waits until every pod follows the source with the seed. */
  private async createReplicating(name: string): Promise<Redis[]> {
    await this.custom.createNamespacedCustomObject({
      ...group,
      body: {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name, namespace: NS },
        spec: {
          instances: INSTANCES,
          storage: { size: "1Gi" },
          authSecret: { name: "dr-auth" },
          replicaMode: {
            enabled: true,
            topology: "direct",
            source: {
              host: this.source.host,
              port: this.source.port,
              clusterName: "prod",
              authSecretName: "prod-auth",
            },
          },
        },
      },
    });
    for (let i = 0; i < INSTANCES; i++) await this.sb.waitForPodReady(`${name}-${i}`, NS, 60_000);
    const clients = this.podIPs(name).map((ip) => redisClient(ip, 6379, CLUSTER_PASSWORD));
    await poll(
      `${name} replicating`,
      async () => {
        if (this.stored(name)?.status?.replication?.linkStatus !== "Up") return false;
        for (const client of clients) {
          const info = await client.info("replication");
          if (infoField(info, "master_host") !== this.source.host) return false;
          if (infoField(info, "master_link_status") !== "up") return false;
          if ((await client.dbsize()) < SEED_KEYS) return false;
        }
        return true;
      },
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    return clients;
  }

  private async deleteCluster(name: string): Promise<void> {
    await this.custom.deleteNamespacedCustomObject({ ...group, name });
    await poll(
      `${name}'s pods gone`,
      () =>
        this.sb.sandbox.core.store
          .list("/pods", NS)
          .every((pod) => !pod.metadata.name?.startsWith(`${name}-`)),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  async run(run: number, load: boolean): Promise<RunResult> {
    const name = `dr${run}`;
    await this.seedSource();
    const clients = await this.createReplicating(name);
    const [leader] = clients as [Redis, ...Redis[]];
    const ips = this.podIPs(name);
    const leaderIp = ips[0] as string;
    const writer = load ? startWriteLoad(this.source, `load:${run}`) : undefined;
    try {
      if (writer !== undefined) {
        // The load is flowing into the pods when the patch goes out.
        await poll("load replicated", async () => (await leader.dbsize()) > SEED_KEYS + 500, {
          timeoutMs: 30_000,
        });
      }
      const keysBefore = new Set<string>();
      const fullBefore: number[] = [];
      for (const client of clients) {
        for (const key of await client.keys("*")) keysBefore.add(key);
        fullBefore.push(Number(infoField(await client.info("stats"), "sync_full")));
      }
      const leaderPartialBefore = Number(infoField(await leader.info("stats"), "sync_partial_ok"));

      const since = async (what: string, check: () => Promise<boolean> | boolean, intervalMs: number) => {
        await poll(what, check, { timeoutMs: 90_000, intervalMs });
        return performance.now();
      };
      const writable = since(
        "leader writable",
        async () => {
          try {
            return (await leader.set("bench:probe", String(run))) === "OK";
          } catch {
            return false; // READONLY while it is still a replica
          }
        },
        5,
      );
      const attached = since(
        "replicas attached",
        async () => {
          const info = await leader.info("replication");
          if (infoField(info, "role") !== "master") return false;
          if (Number(infoField(info, "connected_slaves")) !== INSTANCES - 1) return false;
          for (const ip of ips.slice(1)) {
            if (!new RegExp(`^slave\\d+:ip=${ip.replaceAll(".", "\\.")},.*state=online`, "m").test(info))
              return false;
          }
          for (const client of clients.slice(1)) {
            const replica = await client.info("replication");
            if (infoField(replica, "master_host") !== leaderIp) return false;
            if (infoField(replica, "master_link_status") !== "up") return false;
          }
          return true;
        },
        10,
      );
      const promoted = since(
        "status Promoted",
        () => {
          const condition = this.stored(name)?.status?.conditions?.find((c) => c.type === "ReplicaMode");
          return condition?.status === "False" && condition.reason === "Promoted";
        },
        10,
      );
      await this.custom.patchNamespacedCustomObject(
        { ...group, name, body: { spec: { replicaMode: { promote: true } } } },
        merge,
      );
      const accepted = performance.now();
      const [tWritable, tAttached, tPromoted] = await Promise.all([writable, attached, promoted]);
      const loadKeysWritten = (await writer?.stop()) ?? 0;

      // Every replica has everything the leader has before the keys are compared.
      const leaderOffset = Number(infoField(await leader.info("replication"), "master_repl_offset"));
      await poll("replicas caught up with the leader", async () => {
        for (const client of clients.slice(1)) {
          const offset = Number(infoField(await client.info("replication"), "master_repl_offset"));
          if (offset < leaderOffset) return false;
        }
        return true;
      });
      let keysLost = 0;
      let fullResyncs = 0;
      for (const [i, client] of clients.entries()) {
        const keys = new Set(await client.keys("*"));
        for (const key of keysBefore) if (!keys.has(key)) keysLost++;
        fullResyncs += Number(infoField(await client.info("stats"), "sync_full")) - (fullBefore[i] ?? 0);
      }
      const leaderPartial =
        Number(infoField(await leader.info("stats"), "sync_partial_ok")) - leaderPartialBefore;
      return {
        run,
        load,
        writableMs: tWritable - accepted,
        attachedMs: tAttached - accepted,
        promotedMs: tPromoted - accepted,
        fullResyncs,
        leaderPartialResyncs: leaderPartial,
        keysBefore: keysBefore.size,
        keysLost,
        loadKeysWritten,
      };
    } finally {
      await writer?.stop();
      for (const client of clients) client.disconnect();
      await this.deleteCluster(name);
    }
  }
}

function summarize(results: readonly RunResult[], load: boolean): Record<string, string | number> {
  const runs = results.filter((r) => r.load === load);
  const figure = (pick: (r: RunResult) => number) => {
    const ms = runs.map(pick);
    return `${Math.round(median(ms))} / ${Math.round(percentile(ms, 99))}`;
  };
  return {
    "write load": load ? "2000 SET/s" : "none",
    runs: runs.length,
    "(a) writable p50/p99 ms": figure((r) => r.writableMs),
    "(b) attached p50/p99 ms": figure((r) => r.attachedMs),
    "(c) Promoted p50/p99 ms": figure((r) => r.promotedMs),
    "full resyncs": runs.reduce((sum, r) => sum + r.fullResyncs, 0),
    "keys lost": runs.reduce((sum, r) => sum + r.keysLost, 0),
    "leader partial syncs (median)": median(runs.map((r) => r.leaderPartialResyncs)),
  };
}

async function main(): Promise<void> {
  const source = await startRedisServer(`127.${RANGE}.60.1`, 6379, SOURCE_PASSWORD);
  let sb: TestSandbox | undefined;
  const started = performance.now();
  try {
    sb = await startSandbox({ range: RANGE, webhook: true, controller: true, operatorForm: "shipped" });
    const bench = new Bench(sb, source);
    await bench.setUp();
    const results: RunResult[] = [];
    // With and without load alternating, so drift on this shared machine hits both alike.
    for (let run = 0; run < 2 * RUNS; run++) {
      const result = await bench.run(run, run % 2 === 1);
      results.push(result);
      if (process.env["BENCH_VERBOSE"] !== undefined) console.log(JSON.stringify(result));
    }
    const rows = [false, true].map((load) => summarize(results, load));
    console.log(
      `\nPromotion of a 3-instance DR cluster (direct), time from the accepted patch, ${RUNS} run(s) each:`,
    );
    printTable(rows);
    console.log(`(${round((performance.now() - started) / 1000, 1)} s in all)`);
    writeJson(values.json ?? "hack/bench/results/promotion.json", {
      machine: await machineDescription(),
      runsPerCondition: RUNS,
      rows,
      runs: results.map((r) => ({
        ...r,
        writableMs: round(r.writableMs, 1),
        attachedMs: round(r.attachedMs, 1),
        promotedMs: round(r.promotedMs, 1),
      })),
    });
  } finally {
    await sb?.stop();
    await source.stop();
  }
}

await main();
