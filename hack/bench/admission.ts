/**
 * Admission benchmark: the webhook's endpoints over TLS with keep-alive at concurrency 1, 16 and 64, next to
 * the ceiling — a bare Node HTTPS server answering a fixed AdmissionReview — measured side by side in one run.
 *
 *   npm run bench:admission [-- --quick] [--duration SECONDS] [--reps N] [--json PATH]
 *                           [--concurrency 16,64] [--scenarios ceiling,validate-update] [--profile DIR]
 *                           [--baseline GIT-REV]
 *
 * The webhook runs as the image ships it: compiled by tsc (hack/k8s/image.ts), `node` with its Deployment's
 * Node options, NODE_ENV=production; so does the ceiling (transpiled to JavaScript here). One more row, the
 * same webhook under tsx (`validate-update-tsx`, concurrency 64 only), says what running the sources would
 * cost.
 * `--profile DIR` runs the shipped webhook under `node --cpu-prof` and leaves its .cpuprofile in DIR.
 * `--baseline GIT-REV` also runs that revision's webhook, compiled the same way, as a fourth process:
 * `validate-update-baseline`, `mutate-create-baseline` and `validate-create-baseline`: before/after in one run.
 *
 * Scenarios (each server is its own process; autocannon drives them from this one):
 *   ceiling             bare HTTPS server, parses the review and answers "allowed"
 *   validate-update     a RedisCluster UPDATE that changes no Secret reference: schema + rules, no API call
 *   mutate-create       a CREATE that needs defaults: the JSONPatch is computed and returned
 *   validate-create     a CREATE naming two Secrets: two SubjectAccessReviews and two Secret `get`s against
 *                       the sandbox API server
 *   validate-update-tsx validate-update against the webhook run under tsx
 * and, once, the hostile review of issue 16 (32k resources.limits entries that are neither integer nor string,
 * 437 KB) one at a time:
 * its latency and the size of the answer.
 *
 * Latency is recorded per response in microseconds (autocannon's own histogram has 1 ms resolution), and every
 * figure is the median over the repetitions, scenarios interleaved so drift on this shared machine hits all.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { build as buildHistogram } from "hdr-histogram-js";
import { CoreV1Api } from "@kubernetes/client-node";
import ts from "typescript";
import { shippedProgram, sourcesAt } from "../k8s/image.ts";
import { createCa, freePort, issueServingCertificate, startSandbox, waitFor } from "../sandbox/testing.ts";
import { machineDescription, median, printTable, round, writeJson } from "./lib/stats.ts";
import { createNamespaceWithPasswords } from "./lib/kube.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    duration: { type: "string" },
    reps: { type: "string" },
    json: { type: "string", default: "hack/bench/results/admission.json" },
    concurrency: { type: "string" },
    scenarios: { type: "string" },
    profile: { type: "string" },
    baseline: { type: "string" },
  },
});
const QUICK = values.quick ?? false;
const DURATION_S = Number(values.duration ?? (QUICK ? 1 : 4));
const REPS = Number(values.reps ?? (QUICK ? 1 : 3));
const CONCURRENCY = (values.concurrency ?? "1,16,64").split(",").map(Number);
const NAMESPACE = "bench";
const REPO = new URL("../../", import.meta.url).pathname;

type Server = "ceiling" | "webhook" | "webhook-tsx" | "baseline";

interface Scenario {
  readonly name: string;
  readonly server: Server;
  readonly path: string;
  readonly body: string;
  /** What the response must say, checked once before measuring so errors are never benchmarked. */
  readonly expect: (response: { allowed?: boolean; patch?: string }) => boolean;
  /** Measured at this concurrency only (default: every one). */
  readonly onlyAt?: number;
}

const cluster = (spec: Record<string, unknown>) => ({
  apiVersion: "redis.io/v1",
  kind: "RedisCluster",
  metadata: { name: "dr-redis", namespace: NAMESPACE, uid: "5a1b", generation: 1 },
  spec,
});
const SPEC = {
  instances: 3,
  mode: "standalone",
  storage: { size: "1Gi" },
  authSecret: { name: "dr-redis-auth" },
  replicaMode: {
    enabled: true,
    topology: "direct",
    source: {
      host: "prod-redis-leader.production.svc.cluster.local",
      port: 6379,
      clusterName: "prod",
      authSecretName: "prod-auth",
    },
  },
};

function review(operation: "CREATE" | "UPDATE", object: unknown, oldObject?: unknown): string {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "0b4f8c5e-bench",
      kind: { group: "redis.io", version: "v1", kind: "RedisCluster" },
      resource: { group: "redis.io", version: "v1", resource: "redisclusters" },
      requestKind: { group: "redis.io", version: "v1", kind: "RedisCluster" },
      requestResource: { group: "redis.io", version: "v1", resource: "redisclusters" },
      name: "dr-redis",
      namespace: NAMESPACE,
      operation,
      // The sandbox authorizes system:masters only: the webhook's SubjectAccessReviews are allowed.
      userInfo: { username: "bench", groups: ["system:masters", "system:authenticated"] },
      object,
      oldObject: oldObject ?? null,
      dryRun: false,
      options: {
        apiVersion: "meta.k8s.io/v1",
        kind: operation === "CREATE" ? "CreateOptions" : "UpdateOptions",
      },
    },
  });
}

const validateUpdate = review("UPDATE", cluster({ ...SPEC, instances: 5 }), cluster(SPEC));
const ALL_SCENARIOS: Scenario[] = [
  { name: "ceiling", server: "ceiling", path: "/", body: validateUpdate, expect: (r) => r.allowed === true },
  {
    name: "validate-update",
    server: "webhook",
    path: "/validate-redis-io-v1-rediscluster",
    body: validateUpdate,
    expect: (r) => r.allowed === true,
  },
  {
    name: "mutate-create",
    server: "webhook",
    path: "/mutate-redis-io-v1-rediscluster",
    body: review(
      "CREATE",
      cluster({
        instances: 3,
        storage: { size: "1Gi" },
        replicaMode: { enabled: true, source: { host: "prod" } },
      }),
    ),
    expect: (r) => r.allowed === true && typeof r.patch === "string",
  },
  {
    name: "validate-create",
    server: "webhook",
    path: "/validate-redis-io-v1-rediscluster",
    body: review("CREATE", cluster(SPEC)),
    expect: (r) => r.allowed === true,
  },
  {
    name: "validate-update-tsx",
    server: "webhook-tsx",
    path: "/validate-redis-io-v1-rediscluster",
    body: validateUpdate,
    expect: (r) => r.allowed === true,
    onlyAt: 64,
  },
];
if (values.baseline !== undefined) {
  for (const name of ["validate-update", "mutate-create", "validate-create"]) {
    const scenario = ALL_SCENARIOS.find((s) => s.name === name) as Scenario;
    ALL_SCENARIOS.push({ ...scenario, name: `${name}-baseline`, server: "baseline" });
  }
}
const SCENARIOS = ALL_SCENARIOS.filter(
  (s) => values.scenarios === undefined || values.scenarios.split(",").includes(s.name),
);
const SERVERS = [...new Set(SCENARIOS.map((s) => s.server))];

function startProcess(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, args, { cwd: REPO, env: { ...process.env, ...env }, stdio: "ignore" });
}

/** The ceiling as plain JavaScript (it imports node: modules only), so it runs as the webhook does. */
function transpiledCeiling(dir: string): string {
  const source = readFileSync(join(REPO, "hack/bench/ceiling-server.ts"), "utf8");
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const file = join(dir, "ceiling-server.mjs");
  writeFileSync(file, outputText);
  return file;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

function rssMiB(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return round(kib / 1024, 1);
}

/** One verified request (the CA checks the certificate), parsed. */
function post(
  port: number,
  path: string,
  body: string,
  ca: string,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        ca,
        servername: "localhost",
        headers: { "content-type": "application/json" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString("utf8")) }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

interface Measurement {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly errors: number;
}

async function measure(port: number, scenario: Scenario, connections: number): Promise<Measurement> {
  const latencyUs = buildHistogram({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let instance: autocannon.Instance | undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: `https://127.0.0.1:${port}${scenario.path}`,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: scenario.body,
        connections,
        pipelining: 1,
        duration: DURATION_S,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
  instance?.on("response", (_client, statusCode, _bytes, responseTimeMs) => {
    if (statusCode === 200) latencyUs.recordValue(Math.max(1, Math.round(responseTimeMs * 1000)));
  });
  const result = await done;
  const ok = latencyUs.totalCount;
  const figures = {
    rps: ok / DURATION_S,
    p50: latencyUs.getValueAtPercentile(50) / 1000,
    p99: latencyUs.getValueAtPercentile(99) / 1000,
    p999: latencyUs.getValueAtPercentile(99.9) / 1000,
    errors: result.errors + result.non2xx + result.timeouts,
  };
  latencyUs.destroy();
  return figures;
}

const HOSTILE_ENTRIES = 32_000;

/** The hostile review of issue 16, posted one at a time: it must be answered fast with a small answer. */
async function measureHostile(port: number, ca: string) {
  const limits = Object.fromEntries(Array.from({ length: HOSTILE_ENTRIES }, (_, i) => [`r${i}`, true]));
  const body = review("CREATE", cluster({ ...SPEC, resources: { limits } }));
  const samples = QUICK ? 3 : 10;
  const times: number[] = [];
  let answerBytes = 0;
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    const { status, json } = await post(port, "/validate-redis-io-v1-rediscluster", body, ca);
    times.push(performance.now() - started);
    const response = (json as { response?: { allowed?: boolean } }).response;
    if (status !== 200 || response?.allowed !== false)
      throw new Error(`hostile review: unexpected answer ${status}`);
    answerBytes = JSON.stringify(json).length;
  }
  return {
    requestBytes: Buffer.byteLength(body),
    samples,
    medianMs: median(times),
    maxMs: Math.max(...times),
    answerBytes,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "redis-dr-bench-"));
  const children: ChildProcess[] = [];
  const sandbox = await startSandbox({ range: 50 });
  try {
    const ca = createCa(join(dir, "ca"));
    const certDir = join(dir, "certs");
    issueServingCertificate(ca, certDir, ["localhost"], ["127.0.0.1"]);

    const core = sandbox.kubeConfig.makeApiClient(CoreV1Api);
    await createNamespaceWithPasswords(core, NAMESPACE, {
      "dr-redis-auth": "bench-password",
      "prod-auth": "bench-password",
    });

    const webhookArgs = (port: number, healthPort: number) => [
      "--cert-dir",
      certDir,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--health-port",
      String(healthPort),
    ];
    const ports = new Map<Server, number>();
    const processes = new Map<Server, ChildProcess>();
    for (const server of SERVERS) {
      const [port, healthPort] = [await freePort(), await freePort()];
      ports.set(server, port);
      let child: ChildProcess;
      if (server === "ceiling") {
        child = startProcess([transpiledCeiling(dir), "--cert-dir", certDir, "--port", String(port)], {});
      } else if (server === "webhook") {
        const { nodeArgs, main, env } = shippedProgram("webhook");
        const profile = values.profile ? ["--cpu-prof", "--cpu-prof-dir", values.profile] : [];
        child = startProcess([...nodeArgs, ...profile, main, ...webhookArgs(port, healthPort)], {
          ...env,
          KUBECONFIG: sandbox.kubeconfigPath,
        });
      } else if (server === "baseline") {
        const { nodeArgs, main, env } = shippedProgram("webhook", sourcesAt(values.baseline ?? "HEAD"));
        child = startProcess([...nodeArgs, main, ...webhookArgs(port, healthPort)], {
          ...env,
          KUBECONFIG: sandbox.kubeconfigPath,
        });
      } else {
        child = startProcess(["--import", "tsx", "webhook/main.ts", ...webhookArgs(port, healthPort)], {
          KUBECONFIG: sandbox.kubeconfigPath,
        });
      }
      processes.set(server, child);
      children.push(child);
      if (server === "ceiling") {
        await waitFor(() => post(port, "/", validateUpdate, ca.certPem).then((r) => r.status === 200), {
          what: "ceiling ready",
        });
      } else {
        await waitFor(async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok, {
          what: `${server} ready`,
        });
      }
    }
    // Idle: ready, one request of each scenario served (below), no load yet.
    const portOf = (s: Scenario) => ports.get(s.server) ?? 0;
    const pidOf = (server: Server) => processes.get(server)?.pid;
    for (const scenario of SCENARIOS) {
      const { status, json } = await post(portOf(scenario), scenario.path, scenario.body, ca.certPem);
      const response = (json as { response?: { allowed?: boolean; patch?: string } }).response ?? {};
      if (status !== 200 || !scenario.expect(response)) {
        throw new Error(
          `${scenario.name}: unexpected answer ${status} ${JSON.stringify(json).slice(0, 300)}`,
        );
      }
    }

    const idleRss = new Map(SERVERS.map((server) => [server, rssMiB(pidOf(server))]));
    const runs = new Map<string, Measurement[]>();
    const rss = new Map<Server, number>();
    for (let rep = 0; rep < REPS; rep++) {
      for (const connections of CONCURRENCY) {
        // Rotate the order each repetition so no scenario always runs first (warm-up, drift).
        const here = SCENARIOS.filter((s) => (s.onlyAt ?? connections) === connections);
        const order = here.map((_, i) => here[(i + rep) % here.length] as Scenario);
        for (const scenario of order) {
          const m = await measure(portOf(scenario), scenario, connections);
          const key = `${scenario.name}@${connections}`;
          runs.set(key, [...(runs.get(key) ?? []), m]);
          const server = scenario.server;
          rss.set(server, Math.max(rss.get(server) ?? 0, rssMiB(pidOf(server))));
        }
      }
    }

    const rows = [];
    const figures = [];
    for (const connections of CONCURRENCY) {
      const ceilingRuns = runs.get(`ceiling@${connections}`) ?? [];
      const ceilingRps = median(ceilingRuns.map((m) => m.rps));
      const ceilingP50 = median(ceilingRuns.map((m) => m.p50));
      for (const scenario of SCENARIOS) {
        const ms = runs.get(`${scenario.name}@${connections}`) ?? [];
        if (ms.length === 0) continue;
        const rps = median(ms.map((m) => m.rps));
        const p50 = median(ms.map((m) => m.p50));
        rows.push({
          scenario: scenario.name,
          concurrency: connections,
          "req/s": Math.round(rps),
          "p50 ms": round(p50, 3),
          "p99 ms": round(median(ms.map((m) => m.p99)), 3),
          "p999 ms": round(median(ms.map((m) => m.p999)), 3),
          "req/s vs ceiling": round(rps / ceilingRps, 3),
          "p50 vs ceiling": round(p50 / ceilingP50, 2),
          errors: ms.reduce((sum, m) => sum + m.errors, 0),
        });
        figures.push({
          scenario: scenario.name,
          concurrency: connections,
          reqPerSec: round(rps, 1),
          p50Ms: round(p50, 3),
          p99Ms: round(median(ms.map((m) => m.p99)), 3),
          p999Ms: round(median(ms.map((m) => m.p999)), 3),
          ratioToCeiling: round(rps / ceilingRps, 3),
          p50RatioToCeiling: round(p50 / ceilingP50, 2),
          errors: ms.reduce((sum, m) => sum + m.errors, 0),
        });
      }
    }
    const webhookPort = ports.get("webhook");
    // Not while profiling: the profile is of the load above.
    const hostile =
      webhookPort === undefined || values.profile !== undefined
        ? undefined
        : await measureHostile(webhookPort, ca.certPem);
    const rssOf = Object.fromEntries(
      SERVERS.map((server) => [server, { idle: idleRss.get(server), underLoad: rss.get(server) }]),
    );

    console.log(`\nAdmission over TLS with keep-alive, ${REPS} repetition(s) × ${DURATION_S}s, medians:`);
    printTable(rows);
    console.log("RSS MiB (idle: ready, before the load; under load: the most seen after a measurement):");
    printTable(SERVERS.map((server) => ({ process: server, ...rssOf[server] })));
    if (hostile) {
      console.log(
        `Hostile review (${hostile.requestBytes} bytes, ${HOSTILE_ENTRIES} invalid entries), ` +
          `${hostile.samples} sequential requests: median ${round(hostile.medianMs, 1)} ms, ` +
          `max ${round(hostile.maxMs, 1)} ms, answer ${hostile.answerBytes} bytes`,
      );
    }
    writeJson(values.json ?? "hack/bench/results/admission.json", {
      machine: await machineDescription(),
      durationSeconds: DURATION_S,
      repetitions: REPS,
      form: "webhook and ceiling compiled to JavaScript, node (the webhook with its Deployment's options), NODE_ENV=production",
      baseline: values.baseline ?? null,
      rows: figures,
      rssMiB: rssOf,
      hostile: hostile ?? null,
    });
  } finally {
    for (const child of children) child.kill("SIGTERM");
    // The webhook writes its CPU profile as it exits.
    await Promise.all(children.map(exited));
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
