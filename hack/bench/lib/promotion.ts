/**
 * The promotion benchmark's measurement, shared by the sandbox (hack/bench/promotion.ts) and the real
 * control plane (hack/bench/promotion-real.ts): the run (a fresh 3-instance DR cluster following an external
 * source, the promotion patch, the three pollers, resyncs and keys lost), the alternating run loop, and the
 * summary table and JSON. What differs by back end is how the stored RedisCluster is read and when the
 * cluster's pods are gone (`PromotionBackend`).
 */
import { performance } from "node:perf_hooks";
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { Redis } from "ioredis";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import type { TestCluster } from "../../sandbox/testing.ts";
import { createNamespaceWithPasswords, replicaClusterManifest } from "./kube.ts";
import { infoField, poll, redisClient, startWriteLoad, type RedisServer } from "./redis.ts";
import { machineDescription, median, percentile, printTable, round, writeJson } from "./stats.ts";

export const NS = "bench";
export const INSTANCES = 3;
export const SEED_KEYS = 1000;
export const SOURCE_PASSWORD = "bench-source-pw-31d9";
export const CLUSTER_PASSWORD = "bench-cluster-pw-6c02";
export const group = { group: "redis.io", version: "v1", namespace: NS, plural: "redisclusters" };
const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export interface RunResult {
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

/** What the measurement needs from a back end beyond the TestCluster interface. */
export interface PromotionBackend {
  readonly cluster: TestCluster;
  /** The stored RedisCluster (polled every 10 ms while promoting). */
  stored(name: string): Promise<RedisCluster | undefined> | RedisCluster | undefined;
  /** Whether no pod of the cluster `name` is left in the namespace. */
  podsGone(name: string): Promise<boolean> | boolean;
}

export class PromotionBench {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly sb: TestCluster;

  constructor(
    private readonly backend: PromotionBackend,
    private readonly source: RedisServer,
  ) {
    this.sb = backend.cluster;
    this.custom = this.sb.kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = this.sb.kubeConfig.makeApiClient(CoreV1Api);
  }

  async setUp(): Promise<void> {
    await createNamespaceWithPasswords(this.core, NS, {
      "dr-auth": CLUSTER_PASSWORD,
      "prod-auth": SOURCE_PASSWORD,
    });
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

  /** The RedisCluster of a run: `direct` replica mode from the external source. */
  manifest(name: string): RedisCluster {
    return replicaClusterManifest(name, NS, {
      instances: INSTANCES,
      topology: "direct",
      source: { host: this.source.host, port: this.source.port },
    });
  }

  /** Creates the DR cluster and waits until every pod follows the source with the seed. */
  private async createReplicating(name: string): Promise<Redis[]> {
    await this.custom.createNamespacedCustomObject({ ...group, body: this.manifest(name) });
    for (let i = 0; i < INSTANCES; i++) await this.sb.waitForPodReady(`${name}-${i}`, NS, 60_000);
    const clients = this.podIPs(name).map((ip) => redisClient(ip, 6379, CLUSTER_PASSWORD));
    await poll(
      `${name} replicating`,
      async () => {
        if ((await this.backend.stored(name))?.status?.replication?.linkStatus !== "Up") return false;
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
    await poll(`${name}'s pods gone`, () => this.backend.podsGone(name), {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
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
        async () => {
          const condition = (await this.backend.stored(name))?.status?.conditions?.find(
            (c) => c.type === "ReplicaMode",
          );
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

/** `runs` runs per condition, with and without load alternating, so drift on this shared machine hits both alike. */
export async function runAlternating(bench: PromotionBench, runs: number): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (let run = 0; run < 2 * runs; run++) {
    const result = await bench.run(run, run % 2 === 1);
    results.push(result);
    if (process.env["BENCH_VERBOSE"] !== undefined) console.log(JSON.stringify(result));
  }
  return results;
}

export function summarize(results: readonly RunResult[], load: boolean): Record<string, string | number> {
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

/** Prints the table under `title` and writes the JSON (machine, runs per condition, rows, every run). */
export async function report(
  results: readonly RunResult[],
  { runs, title, started, json }: { runs: number; title: string; started: number; json: string },
): Promise<void> {
  const rows = [false, true].map((load) => summarize(results, load));
  console.log(`\n${title}, time from the accepted patch, ${runs} run(s) each:`);
  printTable(rows);
  console.log(`(${round((performance.now() - started) / 1000, 1)} s in all)`);
  writeJson(json, {
    machine: await machineDescription(),
    runsPerCondition: runs,
    rows,
    runs: results.map((r) => ({
      ...r,
      writableMs: round(r.writableMs, 1),
      attachedMs: round(r.attachedMs, 1),
      promotedMs: round(r.promotedMs, 1),
    })),
  });
}
