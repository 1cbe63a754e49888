/**
 * Cross-region bytes benchmark: what a 5-instance DR cluster pulls through the cross-region link, `direct`
 * (every pod replicates from the source) against `cascade` (only the leader does; the others follow it).
 *
 *   npm run bench:bytes [-- --quick] [--reps N] [--json PATH]
 *
 * The link is a counting TCP proxy (lib/counting-proxy.ts) in front of an external source redis-server; the
 * DR cluster's `replicaMode.source` is the proxy's address, so everything the cluster (its pods, and the
 * controller measuring the source's offset) exchanges with the source crosses it. Bytes are counted per
 * client address: the pods connect from their pod IPs, which separates replication from the controller.
 *
 * Per topology and repetition, on the sandbox with the real controller:
 *   initial sync  the source holds a fixed dataset (20 000 keys × 1 KiB of random base64, which the RDB
 *                 cannot compress; --quick 2 000); from the cluster's
 *                 creation until every pod is linked and at the source's replication offset
 *   write load    a fixed load on the source (10 000 SETs of 256-byte values at 2000/s; --quick 2 000), until
 *                 every pod is at the source's offset again
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { startSandbox, type TestSandbox } from "../sandbox/testing.ts";
import { bytesBetween, CountingProxy, type LinkBytes } from "./lib/counting-proxy.ts";
import { infoField, poll, redisClient, sleep, startRedisServer } from "./lib/redis.ts";
import type { RedisServer } from "./lib/redis.ts";
import { machineDescription, median, printTable, round, writeJson } from "./lib/stats.ts";
import { createNamespaceWithPasswords, replicaClusterManifest } from "./lib/kube.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    json: { type: "string", default: "hack/bench/results/bytes.json" },
  },
});
const QUICK = values.quick ?? false;
const REPS = Number(values.reps ?? (QUICK ? 1 : 2));
const DATASET_KEYS = QUICK ? 2_000 : 20_000;
const DATASET_VALUE_BYTES = 1024;
const LOAD_WRITES = QUICK ? 2_000 : 10_000;
const LOAD_VALUE_BYTES = 256;
const RANGE = 53;
const NS = "bench";
const INSTANCES = 5;
const SOURCE_PASSWORD = "bench-source-pw-8a41";
const CLUSTER_PASSWORD = "bench-cluster-pw-27fe";
const group = { group: "redis.io", version: "v1", namespace: NS, plural: "redisclusters" };
const TOPOLOGIES = ["direct", "cascade"] as const;
type Topology = (typeof TOPOLOGIES)[number];

interface PhaseBytes {
  readonly replication: LinkBytes;
  readonly controller: LinkBytes;
  readonly seconds: number;
}

interface RunResult {
  readonly topology: Topology;
  readonly rep: number;
  readonly initialSync: PhaseBytes;
  readonly writeLoad: PhaseBytes;
}

/** Incompressible values: the RDB of an initial sync compresses repetitive strings (LZF). */
const randomValue = (bytes: number): string => randomBytes(bytes).toString("base64").slice(0, bytes);

class Bench {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  constructor(
    private readonly sb: TestSandbox,
    private readonly source: RedisServer,
    private readonly proxy: CountingProxy,
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

  private async seedSource(): Promise<void> {
    const client = this.source.client();
    try {
      await client.flushall();
      for (let start = 0; start < DATASET_KEYS; start += 1000) {
        const pipeline = client.pipeline();
        for (let i = start; i < Math.min(DATASET_KEYS, start + 1000); i++)
          pipeline.set(`data:${i}`, randomValue(DATASET_VALUE_BYTES));
        await pipeline.exec();
      }
    } finally {
      client.disconnect();
    }
  }

  private async sourceOffset(): Promise<number> {
    const client = this.source.client();
    try {
      return Number(infoField(await client.info("replication"), "master_repl_offset"));
    } finally {
      client.disconnect();
    }
  }

  /** Until every pod is linked (to the source or, in cascade, the leader) at the source's offset. */
  private async waitInSync(name: string): Promise<string[]> {
    const ips = await Promise.all(
      Array.from({ length: INSTANCES }, (_, i) => this.sb.waitForPodReady(`${name}-${i}`, NS, 120_000)),
    );
    const clients = ips.map((ip) => redisClient(ip, 6379, CLUSTER_PASSWORD));
    try {
      await poll(
        `${name} in sync`,
        async () => {
          const target = await this.sourceOffset();
          for (const client of clients) {
            const info = await client.info("replication");
            if (infoField(info, "master_link_status") !== "up") return false;
            if (Number(infoField(info, "master_repl_offset")) < target) return false;
          }
          return true;
        },
        { timeoutMs: 180_000, intervalMs: 100 },
      );
    } finally {
      for (const client of clients) client.disconnect();
    }
    return ips;
  }

  private phase(
    before: ReturnType<CountingProxy["snapshot"]>,
    ips: readonly string[],
    started: number,
  ): PhaseBytes {
    const after = this.proxy.snapshot();
    const pods = new Set(ips);
    return {
      replication: bytesBetween(before, after, (address) => pods.has(address)),
      controller: bytesBetween(before, after, (address) => !pods.has(address)),
      seconds: (performance.now() - started) / 1000,
    };
  }

  async run(topology: Topology, rep: number): Promise<RunResult> {
    const name = `${topology}${rep}`;
    await this.seedSource();
    const beforeSync = this.proxy.snapshot();
    const syncStarted = performance.now();
    await this.custom.createNamespacedCustomObject({
      ...group,
      body: replicaClusterManifest(name, NS, {
        instances: INSTANCES,
        topology,
        source: { host: this.proxy.host, port: this.proxy.port },
      }),
    });
    try {
      const ips = await this.waitInSync(name);
      const initialSync = this.phase(beforeSync, ips, syncStarted);

      const beforeLoad = this.proxy.snapshot();
      const loadStarted = performance.now();
      const client = this.source.client();
      try {
        // 2000 SETs per second in ticks of 10 ms, a fixed count.
        for (let written = 0; written < LOAD_WRITES; written += 20) {
          const next = Date.now() + 10;
          const pipeline = client.pipeline();
          for (let i = written; i < Math.min(LOAD_WRITES, written + 20); i++)
            pipeline.set(`load:${i}`, randomValue(LOAD_VALUE_BYTES));
          await pipeline.exec();
          await sleep(Math.max(0, next - Date.now()));
        }
      } finally {
        client.disconnect();
      }
      await this.waitInSync(name);
      const writeLoad = this.phase(beforeLoad, ips, loadStarted);
      return { topology, rep, initialSync, writeLoad };
    } finally {
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
  }
}

const MiB = (bytes: number) => round(bytes / 2 ** 20, 2);
const KiB = (bytes: number) => round(bytes / 1024, 1);

async function main(): Promise<void> {
  const source = await startRedisServer(`127.${RANGE}.60.1`, 6379, SOURCE_PASSWORD);
  const proxy = new CountingProxy(`127.${RANGE}.60.2`, 6379, { host: source.host, port: source.port });
  await proxy.start();
  let sb: TestSandbox | undefined;
  const began = performance.now();
  const results: RunResult[] = [];
  try {
    sb = await startSandbox({ range: RANGE, controller: true, operatorForm: "shipped" });
    const bench = new Bench(sb, source, proxy);
    await bench.setUp();
    for (let rep = 0; rep < REPS; rep++) {
      const order = rep % 2 === 0 ? TOPOLOGIES : [...TOPOLOGIES].reverse();
      for (const topology of order) {
        const result = await bench.run(topology, rep);
        results.push(result);
        if (process.env["BENCH_VERBOSE"] !== undefined) console.log(JSON.stringify(result));
      }
    }
  } finally {
    await sb?.stop();
    await proxy.stop();
    await source.stop();
  }

  const total = (b: LinkBytes) => b.down + b.up;
  const figures = (topology: Topology) => {
    const runs = results.filter((r) => r.topology === topology);
    return {
      sync: median(runs.map((r) => total(r.initialSync.replication))),
      load: median(runs.map((r) => total(r.writeLoad.replication))),
      syncConnections: median(runs.map((r) => r.initialSync.replication.connections)),
      controller: median(runs.map((r) => total(r.initialSync.controller) + total(r.writeLoad.controller))),
      syncSeconds: median(runs.map((r) => r.initialSync.seconds)),
    };
  };
  const direct = figures("direct");
  const cascade = figures("cascade");
  const datasetBytes = DATASET_KEYS * DATASET_VALUE_BYTES;
  const loadBytes = LOAD_WRITES * LOAD_VALUE_BYTES;
  const rows = [
    ...TOPOLOGIES.map((topology) => {
      const f = topology === "direct" ? direct : cascade;
      return {
        topology,
        "initial sync MiB": MiB(f.sync),
        "× dataset": round(f.sync / datasetBytes, 2),
        "write load MiB": MiB(f.load),
        "× written": round(f.load / loadBytes, 2),
        "pod connections": f.syncConnections,
        "controller KiB": KiB(f.controller),
        "sync s": round(f.syncSeconds, 1),
      };
    }),
    {
      topology: "direct/cascade",
      "initial sync MiB": `${round(direct.sync / cascade.sync, 2)}x`,
      "× dataset": "",
      "write load MiB": `${round(direct.load / cascade.load, 2)}x`,
      "× written": "",
      "pod connections": "",
      "controller KiB": "",
      "sync s": "",
    },
  ];
  console.log(
    `\nCross-region bytes for a ${INSTANCES}-instance DR cluster (both directions, pods only), ` +
      `dataset ${MiB(datasetBytes)} MiB, load ${LOAD_WRITES} × ${LOAD_VALUE_BYTES} B, median of ${REPS}:`,
  );
  printTable(rows);
  console.log(`(${round((performance.now() - began) / 1000, 1)} s in all)`);
  writeJson(values.json ?? "hack/bench/results/bytes.json", {
    machine: await machineDescription(),
    instances: INSTANCES,
    dataset: { keys: DATASET_KEYS, valueBytes: DATASET_VALUE_BYTES },
    load: { writes: LOAD_WRITES, valueBytes: LOAD_VALUE_BYTES },
    rows,
    runs: results,
  });
}

await main();
