/**
 * Scale benchmark on the real control plane (hack/k8s/): one controller with N RedisClusters, N = 10, 100,
 * 1000 growing in place, with its API traffic counted by kube-apiserver itself (apiserver_request_total).
 * The sandbox version is hack/bench/scale.ts; this one answers the same questions against upstream
 * Kubernetes v1.37.2.
 *
 *   npm run bench:scale-real [-- --quick] [--window SECONDS] [--sizes 10,100,1000] [--pod-sizes 10]
 *                            [--json PATH] [--profile DIR]
 *
 * `npm run bench:scale-real` runs this file inside a network namespace of its own (hack/k8s/in-netns.sh,
 * as hack/k8s/test.sh runs the real-control-plane tests), after hack/k8s/build.sh has found (or built) the
 * binaries. Needs root. Cluster ranges 56 (pod-less) and 59 (with pods): 10.56.0.0/16, 10.59.0.0/16.
 * --quick: N = 10, 100, a 5 s window, no pod series. Writes hack/bench/results/scale-real.json.
 * --profile DIR: the controller runs under `node --cpu-prof`; each start of it leaves a .cpuprofile in DIR.
 *
 * The cluster: redis-dr installed from manifests/ (CRDs, RBAC, the webhook as a pod, which admits every
 * RedisCluster) with the controller Deployment at 0 replicas; the controller runs as a child of this
 * process instead — the shipped program (compiled, plain node, NODE_ENV=production, hack/k8s/image.ts)
 * with a token of its own ServiceAccount, so the manifests' RBAC applies and its PID is known for CPU and
 * RSS (/proc). `--namespace scale`.
 *
 * Pod-less clusters: kube-controller-manager runs without its statefulset-controller, so the controller
 * creates each cluster's StatefulSet, Services and PodDisruptionBudget and no pod ever appears (requeued
 * every 2 s, the engine's retry while the leader pod is missing: an upper bound of the traffic per cluster,
 * no Redis connections). The pod series (not in --quick) is a second cluster with every controller and one
 * real Redis pod per cluster, run by the node agent.
 *
 * Per N:
 *   idle     with the controller stopped, apiserver_request_total before and after a window: what the rest
 *            of the cluster costs (kube-controller-manager, scheduler, node agent, webhook, Service network)
 *   restart  clear status.observedGeneration of every cluster, start the controller, and time until the first
 *            and until every cluster has observedGeneration == generation (as a watch on the clusters delivers
 *            their status writes)
 *   steady   after a settling pause, the same window with the controller running: its CPU and RSS, its
 *            reconciles (redis_dr_controller_reconcile_total from its /metrics), and the request deltas.
 * The metric has no client label. The controller's requests are counted on the resources it uses
 * (CONTROLLER_RESOURCES; of these, only the node agent (the webhook pod's Secrets, its pod) and
 * kube-controller-manager (Events) also touch some while nothing changes): the steady window's deltas minus
 * the idle window's, per verb and resource, floored at 0. Everything else (Node and Lease heartbeats,
 * discovery, Endpoints) is the rest of the cluster and is left out; both windows' raw deltas are in the JSON.
 * A WATCH is counted when it ends, so long-running watches show up in neither window.
 */
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { parseRequestTotals, requestDeltas } from "../k8s/apiserver-metrics.ts";
import { OPERATOR_NAMESPACE, RealCluster } from "../k8s/cluster.ts";
import { JsonInformer, type JsonClient } from "../k8s/json-client.ts";
import type { KubeObject } from "../sandbox/api/types.ts";
import pino, { type Logger } from "pino";
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
    json: { type: "string", default: "hack/bench/results/scale-real.json" },
    profile: { type: "string" },
  },
});
const QUICK = values.quick ?? false;
const SIZES = (values.sizes ?? (QUICK ? "10,100" : "10,100,1000")).split(",").map(Number);
const POD_SIZES = (values["pod-sizes"] ?? (QUICK ? "" : "10")).split(",").filter(Boolean).map(Number);
const WINDOW_S = Number(values.window ?? (QUICK ? 5 : 20));
const SETTLE_MS = QUICK ? 2_000 : 5_000;
const RANGE = 56;
const PODS_RANGE = 59;
const NS = "scale";
const CONTROLLER_SA = "redis-dr-controller";
const CLUSTERS = `/apis/redis.io/v1/namespaces/${NS}/redisclusters`;
/** At most this many of the bench's own set-up requests at once. */
const CONCURRENCY = 8;

type Counts = Record<string, number>;

interface Measurement {
  readonly pods: boolean;
  readonly clusters: number;
  readonly firstReconciledS: number;
  readonly allReconciledS: number;
  readonly cpuPercent: number;
  readonly rssMiB: number;
  /** V8's heap (used, reserved) and memory outside it, at the window's end (the controller's own metrics). */
  readonly heapUsedMiB: number;
  readonly heapTotalMiB: number;
  readonly externalMiB: number;
  /** The controller's, per minute: steady window minus idle window, by "VERB resource", floored at 0. */
  readonly requestsPerMin: number;
  readonly readsPerMin: number;
  readonly writesPerMin: number;
  readonly reconcilesPerMin: number;
  /** CPU seconds of the controller and of each control-plane process from the restart until all reconciled. */
  readonly restartCpuSeconds: Counts;
  readonly requestsByVerbResource: Counts;
  /** Per minute, as the API server counted them: with the controller running, and with it stopped. */
  readonly steadyAllClients: Counts;
  readonly idleAllClients: Counts;
  readonly loadAverage: number;
  readonly failedReconciles: number;
}

/** What the controller reads or writes (controller/README.md, "What it reads from the API server"). */
const CONTROLLER_RESOURCES = new Set([
  "redisclusters",
  "statefulsets",
  "services",
  "poddisruptionbudgets",
  "pods",
  "secrets",
  "events",
]);
const READ = /^(GET|LIST|WATCH) /;
const WRITE = /^(POST|PUT|PATCH|DELETE|APPLY) /;
const sum = (counts: Counts, verb: RegExp) =>
  Object.entries(counts).reduce((total, [key, count]) => (verb.test(key) ? total + count : total), 0);

/**
 * When the first and when every cluster had observedGeneration == generation, as a watch on the clusters
 * delivers their changes. A watch costs the API server one event per status write, where polling by LIST
 * (what this bench did until 2026-12-07) serialised all N clusters every 250 ms, beside the controller.
 */
class ReconcileProgress {
  private readonly reconciled = new Set<string>();
  private readonly informer: JsonInformer;
  firstAt: number | undefined;
  allAt: number | undefined;

  constructor(
    client: JsonClient,
    private readonly total: number,
    logger: Logger,
  ) {
    this.informer = new JsonInformer(
      client,
      CLUSTERS,
      { upsert: (o) => this.seen(o), remove: () => {} },
      logger,
    );
  }

  /** Resolves once the watch runs; throws if a cluster is already reconciled (nothing cleared it). */
  async start(): Promise<void> {
    await this.informer.start();
    if (this.reconciled.size !== 0) throw new Error("observedGeneration was not cleared");
  }

  stop(): void {
    this.informer.stop();
  }

  private seen(cluster: KubeObject): void {
    const name = cluster.metadata.name ?? "";
    const status = cluster.status as { observedGeneration?: number } | undefined;
    if (status?.observedGeneration === cluster.metadata.generation) this.reconciled.add(name);
    else this.reconciled.delete(name);
    const now = performance.now();
    if (this.reconciled.size > 0) this.firstAt ??= now;
    if (this.reconciled.size === this.total) this.allAt ??= now;
  }
}

/** Runs `each` over `items`, CONCURRENCY at a time. */
async function inParallel<T>(items: readonly T[], each: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await each(items[next++] as T);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

class Bench {
  controller!: ControllerProcess;
  private clusters = 0;

  constructor(
    private readonly cluster: RealCluster,
    readonly pods: boolean,
  ) {}

  async setUp(): Promise<void> {
    const { admin } = this.cluster;
    await admin.create("/api/v1/namespaces", { metadata: { name: NS } });
    await admin.create(`/api/v1/namespaces/${NS}/secrets`, {
      metadata: { name: "auth", namespace: NS },
      stringData: { password: "bench-scale-real-pw-7c04" },
    });
    // The controller's own ServiceAccount token (TokenRequest), so the manifests' RBAC is what it has.
    const token = (
      await this.cluster.kubectlOk([
        "create",
        "token",
        CONTROLLER_SA,
        "-n",
        OPERATOR_NAMESPACE,
        "--duration=24h",
      ])
    ).trim();
    const kubeconfig = this.cluster.plane.tokenKubeconfig(
      join(this.cluster.dir, "bench-controller.kubeconfig"),
      `system:serviceaccount:${OPERATOR_NAMESPACE}:${CONTROLLER_SA}`,
      token,
    );
    mkdirSync(join(this.cluster.dir, "logs"), { recursive: true });
    this.controller = new ControllerProcess({
      kubeconfig,
      podNamespace: OPERATOR_NAMESPACE,
      namespace: NS,
      logFile: join(this.cluster.dir, "logs", "bench-controller.log"),
      extraNodeArgs: values.profile === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", values.profile],
    });
  }

  /** Adds clusters up to `total` through the API server (and the webhook): set-up, not measured. */
  async growTo(total: number): Promise<void> {
    const names = [];
    for (; this.clusters < total; this.clusters++) names.push(`c${String(this.clusters).padStart(4, "0")}`);
    await inParallel(names, (name) =>
      this.cluster.admin.create(CLUSTERS, {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name, namespace: NS },
        spec: { instances: 1, authSecret: { name: "auth" } },
      }),
    );
  }

  private async list() {
    return (await this.cluster.admin.list(CLUSTERS)).items;
  }

  private async reconciled(): Promise<number> {
    return (await this.list()).filter(
      (c) =>
        (c.status as { observedGeneration?: number } | undefined)?.observedGeneration ===
        c.metadata.generation,
    ).length;
  }

  private pollInterval(): number {
    return this.clusters >= 500 ? 250 : 100;
  }

  async waitAllReconciled(timeoutMs: number): Promise<void> {
    await poll(
      `${this.clusters} clusters reconciled`,
      async () => (await this.reconciled()) === this.clusters,
      {
        timeoutMs,
        intervalMs: this.pollInterval(),
      },
    );
  }

  /** With pods: until every cluster's pod is its primary (the steady state of a healthy cluster). */
  async waitAllPrimaries(timeoutMs: number): Promise<void> {
    if (!this.pods) return;
    const primaries = async () =>
      (await this.list()).filter((c) => (c.status as { currentPrimary?: string } | undefined)?.currentPrimary)
        .length;
    await poll(`${this.clusters} primaries`, async () => (await primaries()) === this.clusters, {
      timeoutMs,
      intervalMs: 1000,
    });
  }

  private async requestTotals(): Promise<Map<string, number>> {
    return parseRequestTotals(await this.cluster.kubectlOk(["get", "--raw", "/metrics"]));
  }

  /** apiserver_request_total deltas over a window of WINDOW_S, per minute, without the bench's own /metrics. */
  private async window(during?: () => Promise<void>): Promise<{ counts: Counts; seconds: number }> {
    const before = await this.requestTotals();
    const started = performance.now();
    await sleep(WINDOW_S * 1000);
    await during?.();
    const seconds = (performance.now() - started) / 1000;
    const after = await this.requestTotals();
    const counts: Counts = {};
    for (const [key, count] of [...requestDeltas(before, after)].sort((a, b) => b[1] - a[1])) {
      // Requests for no resource (discovery, the bench's own /metrics reads) carry no resource label.
      if (/^\S+ (\/|$)/.test(key)) continue;
      counts[key] = Math.round((count / seconds) * 60);
    }
    return { counts, seconds };
  }

  async measure(): Promise<Measurement> {
    await this.controller.stop();
    const logStart = statSync(this.controller.logFile).size;
    const names = (await this.list()).map((c) => c.metadata.name ?? "");
    await inParallel(names, (name) =>
      this.cluster.admin.patch(`${CLUSTERS}/${name}/status`, { status: { observedGeneration: null } }),
    );
    if ((await this.reconciled()) !== 0) throw new Error("observedGeneration was not cleared");
    await sleep(2_000);
    const idle = await this.window();

    const progress = new ReconcileProgress(this.cluster.admin, this.clusters, pino({ level: "silent" }));
    await progress.start();
    const planePids = this.cluster.plane.pids();
    const cpuAtStart = Object.fromEntries(
      Object.entries(planePids).map(([name, pid]) => [name, cpuSeconds(pid)]),
    );
    const started = performance.now();
    await this.controller.start();
    const first = await poll("a first cluster reconciled", () => progress.firstAt, {
      timeoutMs: 120_000,
      intervalMs: 20,
    });
    const all = await poll(`${this.clusters} clusters reconciled`, () => progress.allAt, {
      timeoutMs: 600_000,
      intervalMs: 20,
    });
    progress.stop();
    // CPU seconds each process spent from the controller's start until every cluster was reconciled.
    const restartCpuSeconds: Counts = { controller: round(cpuSeconds(this.controller.pid), 2) };
    for (const [name, pid] of Object.entries(planePids))
      restartCpuSeconds[name] = round(cpuSeconds(pid) - (cpuAtStart[name] ?? 0), 2);

    await sleep(SETTLE_MS);
    const pid = this.controller.pid;
    const cpuBefore = cpuSeconds(pid);
    const reconcilesBefore = await poll("the controller's metrics", () => this.controller.reconciles(), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    let reconciles = 0;
    let cpu = 0;
    let rss = 0;
    let memory = { heapUsedMiB: 0, heapTotalMiB: 0, externalMiB: 0 };
    const steady = await this.window(async () => {
      reconciles = (await this.controller.reconciles()) - reconcilesBefore;
      cpu = cpuSeconds(pid) - cpuBefore;
      rss = rssMiB(pid);
      memory = await this.controller.memory();
    });
    const controller: Counts = {};
    for (const [key, count] of Object.entries(steady.counts)) {
      if (!CONTROLLER_RESOURCES.has(key.split(" ")[1]?.split("/")[0] ?? "")) continue;
      const own = count - (idle.counts[key] ?? 0);
      if (own > 0) controller[key] = own;
    }
    const log = readFileSync(this.controller.logFile, "utf8").slice(logStart);
    const failed = log.split("\n").filter((line) => line.includes('"msg":"reconcile failed"')).length;
    return {
      pods: this.pods,
      clusters: this.clusters,
      firstReconciledS: round((first - started) / 1000, 2),
      allReconciledS: round((all - started) / 1000, 2),
      cpuPercent: round((cpu / steady.seconds) * 100, 1),
      rssMiB: round(rss, 1),
      ...memory,
      requestsPerMin: sum(controller, /./),
      readsPerMin: sum(controller, READ),
      writesPerMin: sum(controller, WRITE),
      reconcilesPerMin: Math.round((reconciles / steady.seconds) * 60),
      restartCpuSeconds,
      requestsByVerbResource: controller,
      steadyAllClients: steady.counts,
      idleAllClients: idle.counts,
      loadAverage: loadAverage1m(),
      failedReconciles: failed,
    };
  }
}

/** One series on its own cluster: N grows in place through `sizes`, measured at each N. */
async function series(pods: boolean, sizes: readonly number[], results: Measurement[]): Promise<void> {
  const booted = performance.now();
  const cluster = await RealCluster.start({
    range: pods ? PODS_RANGE : RANGE,
    operator: true,
    install: { controllerReplicas: 0 },
    // Pod-less: StatefulSets never get pods (see the header).
    ...(pods ? { probePeriodCapSeconds: 5 } : { disabledControllers: ["statefulset-controller"] }),
  });
  console.log(
    `cluster ${pods ? PODS_RANGE : RANGE} up in ${round((performance.now() - booted) / 1000, 1)} s`,
  );
  const bench = new Bench(cluster, pods);
  try {
    await bench.setUp();
    for (const size of sizes) {
      const grown = performance.now();
      await bench.growTo(size);
      // The new clusters get their StatefulSets and Services (and pods their roles) before anything is measured.
      await bench.controller.start();
      await bench.waitAllReconciled(900_000);
      await bench.waitAllPrimaries(900_000);
      console.log(
        `N=${size}${pods ? " with pods" : ""} ready in ${round((performance.now() - grown) / 1000, 1)} s`,
      );
      const m = await bench.measure();
      results.push(m);
      if (process.env["BENCH_VERBOSE"] !== undefined) console.log(JSON.stringify(m));
      await bench.controller.stop();
    }
  } finally {
    await bench.controller?.stop();
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const results: Measurement[] = [];
  const began = performance.now();
  const loadBefore = loadAverage1m();
  await series(false, SIZES, results);
  if (POD_SIZES.length > 0) await series(true, POD_SIZES, results);

  const rows = results
    .sort((a, b) => Number(a.pods) - Number(b.pods) || a.clusters - b.clusters)
    .map((m) => ({
      pods: m.pods ? "1 each" : "none",
      clusters: m.clusters,
      "restart→all s": m.allReconciledS,
      "restart→first s": m.firstReconciledS,
      "first→all s": round(m.allReconciledS - m.firstReconciledS, 2),
      "CPU %": m.cpuPercent,
      "RSS MiB": m.rssMiB,
      "heap used/total MiB": `${m.heapUsedMiB}/${m.heapTotalMiB}`,
      "API req/min": m.requestsPerMin,
      "reads/min": m.readsPerMin,
      "writes/min": m.writesPerMin,
      "reconciles/min": m.reconcilesPerMin,
      "failed reconciles": m.failedReconciles,
      load: m.loadAverage,
    }));
  console.log(
    `\nController scale on the real control plane, steady window ${WINDOW_S}s after ${SETTLE_MS / 1000}s ` +
      "settling; API requests counted by kube-apiserver (apiserver_request_total), the controller's = " +
      "steady window minus an idle window with it stopped, on the resources it uses:",
  );
  printTable(rows);
  for (const m of results)
    console.log(
      `N=${m.clusters}${m.pods ? " with pods" : ""} restart→all, CPU s by process:`,
      m.restartCpuSeconds,
    );
  for (const m of results)
    console.log(
      `N=${m.clusters}${m.pods ? " with pods" : ""} by verb and resource, /min: controller`,
      m.requestsByVerbResource,
      "steady (all clients)",
      m.steadyAllClients,
      "idle (controller stopped)",
      m.idleAllClients,
    );
  console.log(
    `(${round((performance.now() - began) / 1000, 1)} s in all; 1-min load ${loadBefore} at the start)`,
  );
  writeJson(values.json ?? "hack/bench/results/scale-real.json", {
    machine: await machineDescription(),
    controlPlane: "kube-apiserver, kube-controller-manager, kube-scheduler v1.37.2, etcd v3.6.16 (hack/k8s)",
    windowSeconds: WINDOW_S,
    settleSeconds: SETTLE_MS / 1000,
    podSizes: POD_SIZES,
    form: "controller compiled to JavaScript, plain node, NODE_ENV=production, as its ServiceAccount",
    counting:
      "apiserver_request_total deltas (no client label): the controller's = steady window minus the idle " +
      `window with the controller stopped, per verb and resource of ${[...CONTROLLER_RESOURCES].join(", ")}, ` +
      "floored at 0; WATCH is counted when a " +
      "watch ends. reads = GET, LIST, WATCH; writes = POST, PUT, PATCH, DELETE, APPLY",
    loadAverageAtStart: loadBefore,
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
      restartCpuSeconds: m.restartCpuSeconds,
      cpuPercent: m.cpuPercent,
      reconcilesPerMin: m.reconcilesPerMin,
      restartToAllSeconds: m.allReconciledS,
      firstToAllSeconds: round(m.allReconciledS - m.firstReconciledS, 2),
      requestsByVerbResource: m.requestsByVerbResource,
      failedReconciles: m.failedReconciles,
    })),
    rows,
    measurements: results,
  });
}

await main();
