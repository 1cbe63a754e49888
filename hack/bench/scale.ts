/**
 * Scale benchmark: one controller process with N RedisClusters (N = 10, 100, 1000): time to reconcile them
 * all after a restart, steady-state CPU and RSS of the controller, and API requests per minute.
 *
 *   npm run bench:scale [-- --quick] [--window SECONDS] [--sizes 10,100,1000] [--pod-sizes 10]
 *                       [--json PATH]
 *
 * The clusters have no Redis pods: the sandbox's StatefulSet controller is stopped, so the controller creates
 * each cluster's StatefulSet and Services but no pod ever appears (1000 real Redis pods with their readiness
 * probes would not fit next to the other engineers' work on 2 cores). Each cluster is `instances: 1`,
 * standalone, with an authSecret. A pod-less cluster is requeued every 2 s (the engine's retry while the
 * leader pod is missing) rather than every 5 s (the resync of a healthy cluster), so these figures are an
 * upper bound of the API traffic per cluster, and exclude Redis connections.
 *
 * A second series (not in --quick) runs N = 10 clusters that each have their one real Redis pod (a sandbox
 * with its StatefulSet controller, probes at their own 5 s period): the steady state of healthy clusters,
 * requeued every 5 s, with the Redis admin connections included. (100 such pods took the in-process kubelet
 * over 5 minutes to bring up on this shared machine, so larger N are pod-less only.)
 *
 * N grows in place (10, then 90 more, then 900 more). For each N:
 *   restart  stop the controller, clear status.observedGeneration of every cluster (in the API server's
 *            store), start it, and time until every cluster has observedGeneration == generation again
 *   steady   then, after a settling pause, a window of CPU seconds (/proc/<pid>/stat), RSS, API requests
 *            and new TLS connections counted at the sandbox API server (ApiServer.onRequest)
 */
import { mkdirSync, readFileSync, statSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { startSandbox, type TestSandbox } from "../sandbox/testing.ts";
import { ControllerProcess } from "./lib/controller-process.ts";
import { cpuSeconds, loadAverage1m, rssMiB } from "./lib/proc.ts";
import { poll, sleep } from "./lib/redis.ts";
import { machineDescription, printTable, round, writeJson } from "./lib/stats.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    window: { type: "string" },
    sizes: { type: "string" },
    "pod-sizes": { type: "string" },
    json: { type: "string", default: "hack/bench/results/scale.json" },
  },
});
const QUICK = values.quick ?? false;
const SIZES = (values.sizes ?? (QUICK ? "10,100" : "10,100,1000")).split(",").map(Number);
/** Sizes measured again with a real Redis pod per cluster (none in --quick). */
const POD_SIZES = (values["pod-sizes"] ?? (QUICK ? "" : "10")).split(",").filter(Boolean).map(Number);
const WINDOW_S = Number(values.window ?? (QUICK ? 3 : 20));
const SETTLE_MS = QUICK ? 500 : 5_000;
const RANGE = 52;
const PODS_RANGE = 55;
const NS = "scale";

interface Measurement {
  readonly pods: boolean;
  readonly clusters: number;
  readonly firstReconciledS: number;
  readonly allReconciledS: number;
  readonly cpuPercent: number;
  /** This process: the sandbox API server (in-process) answering the controller, plus the bench itself. */
  readonly apiServerCpuPercent: number;
  readonly rssMiB: number;
  /** V8's heap (used, reserved) and memory outside it, at the window's end (the controller's own metrics). */
  readonly heapUsedMiB: number;
  readonly heapTotalMiB: number;
  readonly externalMiB: number;
  readonly requestsPerMin: number;
  /** GET, LIST and WATCH requests. */
  readonly readsPerMin: number;
  /** POST, PUT, PATCH and DELETE requests (status writes included). */
  readonly writesPerMin: number;
  readonly reconcilesPerMin: number;
  readonly tlsConnectionsPerMin: number;
  readonly requestsByKind: Record<string, number>;
  readonly loadAverage: number;
  readonly failedReconciles: number;
  readonly failedOnConnectionReset: number;
}

/** Counts API requests as the sandbox API server receives them, by verb and resource. */
class RequestCounter {
  private counts = new Map<string, number>();
  private sockets = new WeakSet<object>();
  private connections = 0;

  constructor(sb: TestSandbox) {
    sb.sandbox.api.onRequest((req) => this.count(req));
  }

  private count(req: IncomingMessage): void {
    if (!this.sockets.has(req.socket)) {
      this.sockets.add(req.socket);
      this.connections++;
    }
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const watch = /[?&]watch=(1|true)/.test(req.url ?? "");
    // /api/v1/namespaces/NS/<resource>[/<name>[/<sub>]] or /apis/<g>/<v>/namespaces/NS/<resource>…
    const parts = path.split("/").filter(Boolean);
    const at = parts.indexOf("namespaces");
    const rest = at >= 0 ? parts.slice(at + 2) : parts.slice(parts[0] === "api" ? 2 : 3);
    const resource = rest[0] ?? "?";
    const verb = watch
      ? "WATCH"
      : req.method === "GET" && rest.length === 1
        ? "LIST"
        : `${req.method ?? "?"}${rest[2] ? `/${rest[2]}` : ""}`;
    const key = `${verb} ${resource}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  reset(): void {
    this.counts = new Map();
    this.connections = 0;
  }

  snapshot(): { byKind: Record<string, number>; total: number; connections: number } {
    const byKind = Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1]));
    const total = [...this.counts.values()].reduce((a, b) => a + b, 0);
    return { byKind, total, connections: this.connections };
  }
}

class Bench {
  private readonly requests: RequestCounter;
  readonly controller: ControllerProcess;
  private clusters = 0;

  /** `pods`: every cluster runs its one Redis pod; otherwise the StatefulSets never get pods. */
  constructor(
    private readonly sb: TestSandbox,
    readonly pods: boolean,
  ) {
    this.requests = new RequestCounter(sb);
    mkdirSync(join(sb.dir, "logs"), { recursive: true });
    this.controller = new ControllerProcess({
      kubeconfig: sb.kubeconfigPath,
      podNamespace: NS,
      namespace: NS,
      logFile: join(sb.dir, "logs", "bench-controller.log"),
    });
  }

  private get core() {
    return this.sb.sandbox.core;
  }

  private get clusterType() {
    return this.core.type("redis.io", "v1", "redisclusters");
  }

  async setUp(): Promise<void> {
    // No pods: StatefulSets stay at zero pods (see the header).
    if (!this.pods) await this.sb.sandbox.statefulSets.stop();
    await this.sb.sandbox.ensureNamespace(NS);
    await this.core.create(this.core.type("", "v1", "secrets"), NS, {
      metadata: { name: "auth", namespace: NS },
      stringData: { password: "bench-scale-pw-5e21" },
    });
  }

  /** Adds clusters up to `total`, in-process (setup, not measured). */
  async growTo(total: number): Promise<void> {
    for (; this.clusters < total; this.clusters++) {
      await this.core.create(this.clusterType, NS, {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: `c${String(this.clusters).padStart(4, "0")}`, namespace: NS },
        spec: { instances: 1, authSecret: { name: "auth" } },
      });
    }
  }

  private reconciled(): number {
    return this.core
      .list(this.clusterType, NS)
      .items.filter(
        (c) =>
          (c.status as { observedGeneration?: number } | undefined)?.observedGeneration ===
          c.metadata.generation,
      ).length;
  }

  async waitAllReconciled(timeoutMs: number): Promise<void> {
    await poll(`${this.clusters} clusters reconciled`, () => this.reconciled() === this.clusters, {
      timeoutMs,
      intervalMs: 100,
    });
  }

  /** With pods: until every cluster's pod is a writable primary (the steady state of a healthy cluster). */
  async waitAllPrimaries(timeoutMs: number): Promise<void> {
    if (!this.pods) return;
    const primaries = () =>
      this.core
        .list(this.clusterType, NS)
        .items.filter((c) => (c.status as { currentPrimary?: string } | undefined)?.currentPrimary).length;
    await poll(`${this.clusters} primaries`, () => primaries() === this.clusters, {
      timeoutMs,
      intervalMs: 250,
    });
  }

  async measure(): Promise<Measurement> {
    await this.controller.stop();
    const logStart = statSync(this.controller.logFile).size;
    for (const cluster of this.core.list(this.clusterType, NS).items) {
      await this.core.patch(
        this.clusterType,
        NS,
        cluster.metadata.name ?? "",
        "merge",
        { status: { observedGeneration: null } },
        {},
        "status",
      );
    }
    if (this.reconciled() !== 0) throw new Error("observedGeneration was not cleared");
    const started = performance.now();
    await this.controller.start();
    const first = await poll("a first cluster reconciled", () => this.reconciled() > 0 && performance.now(), {
      timeoutMs: 120_000,
      intervalMs: 20,
    });
    await this.waitAllReconciled(600_000);
    const all = performance.now();

    await sleep(SETTLE_MS);
    const pid = this.controller.pid;
    const cpuBefore = cpuSeconds(pid);
    const apiCpuBefore = process.cpuUsage();
    this.requests.reset();
    const reconcilesBefore = await poll("the controller's metrics", () => this.controller.reconciles(), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const windowStart = performance.now();
    await sleep(WINDOW_S * 1000);
    const reconciles = (await this.controller.reconciles()) - reconcilesBefore;
    const seconds = (performance.now() - windowStart) / 1000;
    const cpu = cpuSeconds(pid) - cpuBefore;
    const apiCpu = process.cpuUsage(apiCpuBefore);
    const rss = rssMiB(pid);
    const memory = await this.controller.memory();
    const { byKind, total, connections } = this.requests.snapshot();
    // Failed reconciles (retried by the work queue) from the start of this controller to the window's end.
    const log = readFileSync(this.controller.logFile, "utf8").slice(logStart);
    const failedLines = log.split("\n").filter((line) => line.includes('"msg":"reconcile failed"'));
    const failed = failedLines.length;
    const resets = failedLines.filter((line) => line.includes("ECONNRESET")).length;
    const perMin = (count: number) => Math.round((count / seconds) * 60);
    return {
      pods: this.pods,
      clusters: this.clusters,
      firstReconciledS: round((first - started) / 1000, 2),
      allReconciledS: round((all - started) / 1000, 2),
      cpuPercent: round((cpu / seconds) * 100, 1),
      apiServerCpuPercent: round(((apiCpu.user + apiCpu.system) / 1e6 / seconds) * 100, 1),
      rssMiB: round(rss, 1),
      ...memory,
      requestsPerMin: perMin(total),
      readsPerMin: perMin(countOf(byKind, /^(GET|LIST|WATCH)\b/)),
      writesPerMin: perMin(countOf(byKind, /^(POST|PUT|PATCH|DELETE)\b/)),
      reconcilesPerMin: perMin(reconciles),
      tlsConnectionsPerMin: perMin(connections),
      requestsByKind: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, perMin(v)])),
      loadAverage: loadAverage1m(),
      failedReconciles: failed,
      failedOnConnectionReset: resets,
    };
  }
}

const countOf = (byKind: Record<string, number>, verb: RegExp) =>
  Object.entries(byKind).reduce((sum, [kind, count]) => (verb.test(kind) ? sum + count : sum), 0);

const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? "" : `${round(a / b, 1)}x`;

/** One series: N grows in place through `sizes`, measured at each N. */
async function series(pods: boolean, sizes: readonly number[], results: Measurement[]): Promise<void> {
  // With pods, probes run at the template's own 5 s period (the sandbox caps periods at 1 s by default).
  const sb = await startSandbox(pods ? { range: PODS_RANGE, probePeriodCapSeconds: 5 } : { range: RANGE });
  const bench = new Bench(sb, pods);
  try {
    await bench.setUp();
    for (const size of sizes) {
      await bench.growTo(size);
      // The new clusters get their StatefulSets and Services (and pods their roles) before anything is measured.
      await bench.controller.start();
      await bench.waitAllReconciled(600_000);
      await bench.waitAllPrimaries(600_000);
      const m = await bench.measure();
      results.push(m);
      if (process.env["BENCH_VERBOSE"] !== undefined) console.log(JSON.stringify(m));
      await bench.controller.stop();
    }
  } finally {
    await bench.controller.stop();
    await sb.stop();
  }
}

async function main(): Promise<void> {
  const results: Measurement[] = [];
  const began = performance.now();
  await series(false, SIZES, results);
  if (POD_SIZES.length > 0) await series(true, POD_SIZES, results);

  const rows = results
    .sort((a, b) => Number(a.pods) - Number(b.pods) || a.clusters - b.clusters)
    .map((m) => ({
      pods: m.pods ? "1 each" : "none",
      clusters: m.clusters,
      "restart→all reconciled s": m.allReconciledS,
      "restart→first s": m.firstReconciledS,
      "first→all s": round(m.allReconciledS - m.firstReconciledS, 2),
      "CPU %": m.cpuPercent,
      "API server CPU %": m.apiServerCpuPercent,
      "RSS MiB": m.rssMiB,
      "heap used/total MiB": `${m.heapUsedMiB}/${m.heapTotalMiB}`,
      "API req/min": m.requestsPerMin,
      "reads/min": m.readsPerMin,
      "writes/min": m.writesPerMin,
      "reconciles/min": m.reconcilesPerMin,
      "TLS conns/min": m.tlsConnectionsPerMin,
      "failed reconciles": `${m.failedReconciles} (${m.failedOnConnectionReset} ECONNRESET)`,
    }));
  console.log(
    `\nController scale (see hack/bench/README.md for the clusters), steady window ${WINDOW_S}s after ${
      SETTLE_MS / 1000
    }s settling:`,
  );
  printTable(rows);
  const growth = [];
  for (const pods of [false, true]) {
    const bySize = new Map(results.filter((m) => m.pods === pods).map((m) => [m.clusters, m]));
    for (const [from, to] of [
      [10, 100],
      [100, 1000],
    ] as const) {
      const a = bySize.get(from);
      const b = bySize.get(to);
      if (a === undefined || b === undefined) continue;
      growth.push({
        pods: pods ? "1 each" : "none",
        growth: `${to}/${from}`,
        "first→all time": ratio(b.allReconciledS - b.firstReconciledS, a.allReconciledS - a.firstReconciledS),
        CPU: ratio(b.cpuPercent, a.cpuPercent),
        RSS: ratio(b.rssMiB, a.rssMiB),
        "API req/min": ratio(b.requestsPerMin, a.requestsPerMin),
        "reconciles/min": ratio(b.reconcilesPerMin, a.reconcilesPerMin),
      });
    }
  }
  console.log("Growth with N (ratios):");
  printTable(growth);
  const calls = results.find((m) => !m.pods && m.clusters === Math.max(...SIZES));
  if (calls !== undefined) console.log(`API calls/min by kind at N=${calls.clusters}:`, calls.requestsByKind);
  console.log(`(${round((performance.now() - began) / 1000, 1)} s in all)`);
  writeJson(values.json ?? "hack/bench/results/scale.json", {
    machine: await machineDescription(),
    windowSeconds: WINDOW_S,
    podSizes: POD_SIZES,
    settleSeconds: SETTLE_MS / 1000,
    form: "controller compiled to JavaScript, plain node, NODE_ENV=production",
    figures: results.map((m) => ({
      pods: m.pods,
      n: m.clusters,
      apiRequestsPerMin: m.requestsPerMin,
      apiReadsPerMin: m.readsPerMin,
      apiWritesPerMin: m.writesPerMin,
      rssMiB: m.rssMiB,
      heapUsedMiB: m.heapUsedMiB,
      heapTotalMiB: m.heapTotalMiB,
      externalMiB: m.externalMiB,
      cpuPercent: m.cpuPercent,
      apiServerCpuPercent: m.apiServerCpuPercent,
      reconcilesPerMin: m.reconcilesPerMin,
      restartToAllSeconds: m.allReconciledS,
      firstToAllSeconds: round(m.allReconciledS - m.firstReconciledS, 2),
      failedReconciles: m.failedReconciles,
    })),
    rows,
    growth,
    measurements: results,
  });
}

await main();
