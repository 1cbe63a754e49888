/**
 * The container image: the Dockerfile's rules (multi-stage, Node 24 LTS, production dependencies only,
 * non-root), and its build step done for real — the same `tsc` command compiles the sources into the image's
 * layout, and the compiled webhook, started the way its Deployment starts it, serves /healthz and a /metrics
 * that `promtool check metrics` accepts. (The programs run here on the machine's Node.js, not the image's.)
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { MANIFESTS, REPO_ROOT, kustomize, list, oneOf, requireTool } from "./helpers.ts";

const DOCKERFILE = readFileSync(path.join(REPO_ROOT, "Dockerfile"), "utf8");
const DOCKERIGNORE = readFileSync(path.join(REPO_ROOT, ".dockerignore"), "utf8");

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
const instructions = DOCKERFILE.replace(/\\\n\s*/g, " ")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line !== "" && !line.startsWith("#"));
const stages = instructions.filter((line) => line.startsWith("FROM "));
const finalStage = instructions.slice(instructions.lastIndexOf(stages[stages.length - 1] ?? ""));

/** The build stage's tsc command, with the output directory swapped for `outDir`. */
function tscArguments(outDir: string): string[] {
  const run = instructions.find((line) => line.startsWith("RUN npx tsc "));
  assert.ok(run, "the Dockerfile compiles with `RUN npx tsc …`");
  const args = run.slice("RUN npx tsc ".length).split(/\s+/);
  const at = args.indexOf("--outDir");
  assert.ok(at >= 0 && args[at + 1] === "dist", "the build stage compiles into dist/");
  args[at + 1] = outDir;
  return args;
}

/** The program files the Deployments run (their first argument, relative to the image's WORKDIR). */
function deploymentEntryPoints(): string[] {
  const objects = kustomize(MANIFESTS);
  return ["redis-dr-webhook", "redis-dr-controller"].map((name) => {
    const container = list(oneOf(objects, "Deployment", name), "spec", "template", "spec", "containers")[0];
    // The image's ENTRYPOINT is node: Node's own options come first, then the program's file.
    const entry = list(container, "args").find((arg) => typeof arg === "string" && !arg.startsWith("--"));
    assert.equal(typeof entry, "string");
    return entry as string;
  });
}

describe("the Dockerfile", () => {
  it("builds in stages from the Node 24 LTS image and runs node as a numeric non-root user", () => {
    assert.ok(stages.length >= 2, "multi-stage");
    assert.ok(instructions.includes("ARG NODE_IMAGE=node:24-bookworm-slim"));
    assert.ok(stages.every((stage) => stage.startsWith("FROM ${NODE_IMAGE}")));
    assert.ok(finalStage.includes("USER 65532:65532"));
    assert.ok(finalStage.includes('ENTRYPOINT ["node"]'));
    assert.ok(finalStage.includes("ENV NODE_ENV=production"));
  });

  it("ships only production dependencies and the compiled programs", () => {
    const dependencies = instructions.find((line) => line.includes("npm ci --omit=dev"));
    assert.ok(dependencies, "production dependencies are installed with npm ci --omit=dev");
    const copies = finalStage.filter((line) => line.startsWith("COPY"));
    assert.deepEqual(copies, [
      "COPY package.json ./",
      "COPY --from=production-dependencies /app/node_modules ./node_modules",
      "COPY --from=build /src/dist/schemas ./schemas",
      "COPY --from=build /src/dist/kube-common ./kube-common",
      "COPY --from=build /src/dist/webhook ./webhook",
      "COPY --from=build /src/dist/controller ./controller",
    ]);
    assert.ok(!finalStage.some((line) => line.startsWith("RUN npm ci --no-audit")), "no dev dependencies");
  });

  it("sends only the sources the build needs to the Docker daemon", () => {
    const patterns = DOCKERIGNORE.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
    assert.deepEqual(patterns, [
      "*",
      "!package.json",
      "!package-lock.json",
      "!tsconfig.json",
      "!schemas/",
      "!kube-common/",
      "!webhook/",
      "!controller/",
    ]);
  });
});

describe("the image's build step, done for real", () => {
  let image = "";
  const programs: ChildProcess[] = [];
  const objects = kustomize(MANIFESTS);
  /** The Deployment's container args, with in-cluster paths and ports replaced for a local run. */
  const argsOf = (deployment: string, replace: Readonly<Record<string, string>>): string[] => {
    const container = list(
      oneOf(objects, "Deployment", deployment),
      "spec",
      "template",
      "spec",
      "containers",
    )[0];
    return (list(container, "args") as string[]).map((arg) => replace[arg] ?? arg);
  };

  before(() => {
    // The image's /app: package.json (ESM), node_modules, and what the build stage's tsc emits.
    image = mkdtempSync(path.join(tmpdir(), "redis-dr-image-"));
    copyFileSync(path.join(REPO_ROOT, "package.json"), path.join(image, "package.json"));
    symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(image, "node_modules"));
    const compiled = path.join(image, "dist");
    const tsc = spawnSync(path.join(REPO_ROOT, "node_modules/.bin/tsc"), tscArguments(compiled), {
      cwd: REPO_ROOT,
      encoding: "utf8",
    });
    // tsc emits even when some file has a type error; `npm run typecheck` reports those, here the layout counts.
    assert.ok(existsSync(compiled), `tsc emitted nothing: ${tsc.stdout}${tsc.stderr}`);
    for (const folder of ["schemas", "kube-common", "webhook", "controller"]) {
      if (existsSync(path.join(compiled, folder))) {
        execFileSync("cp", ["-r", path.join(compiled, folder), path.join(image, folder)]);
      }
    }
    // Neither program needs the API server for what these tests ask; the kubeconfig only has to load.
    writeFileSync(
      path.join(image, "kubeconfig"),
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{name: none, cluster: {server: 'https://127.0.0.1:9'}}]",
        "users: [{name: none, user: {}}]",
        "contexts: [{name: none, context: {cluster: none, user: none}}]",
        "current-context: none",
      ].join("\n"),
    );
  });

  after(() => {
    for (const program of programs) program.kill("SIGKILL");
    if (image !== "") rmSync(image, { recursive: true, force: true });
  });

  /** Starts `node <args>` in the image's directory, as the container's ENTRYPOINT does. */
  const start = (args: readonly string[]): ChildProcess => {
    const program = spawn("node", args, {
      cwd: image,
      env: { PATH: process.env["PATH"], KUBECONFIG: path.join(image, "kubeconfig"), NODE_ENV: "production" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    programs.push(program);
    return program;
  };

  it("emits the file each Deployment runs", () => {
    for (const entry of deploymentEntryPoints()) {
      assert.ok(existsSync(path.join(image, entry)), `${entry} is not in the image`);
    }
  });

  it("the compiled webhook starts as its Deployment says and its /metrics passes promtool check metrics", async () => {
    requireTool("promtool");
    const certs = path.join(image, "serving-certs");
    mkdirSync(certs);
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=redis-dr-webhook",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        path.join(certs, "tls.key"),
        "-out",
        path.join(certs, "tls.crt"),
      ],
      { stdio: "ignore" },
    );
    const args = argsOf("redis-dr-webhook", {
      "/tmp/k8s-webhook-server/serving-certs": certs,
      "9443": "0", // free ports
      "8081": "0",
    });
    const webhook = start([...args, "--host", "127.0.0.1"]);
    const ports = await loggedPorts(webhook, {
      https: (entry) => (entry.msg === "admission server listening (HTTPS)" ? entry["port"] : undefined),
      health: (entry) => (entry.msg === "health and metrics server listening" ? entry["port"] : undefined),
    });

    const health = await fetch(`http://127.0.0.1:${ports.health}/healthz`);
    assert.equal(health.status, 200);
    // One admission request, so the request metrics have samples too.
    const status = await postAdmissionReview(ports.https, readFileSync(path.join(certs, "tls.crt")));
    assert.equal(status, 200);
    await assertPromtoolAccepts(`http://127.0.0.1:${ports.health}/metrics`);
  });

  it("the compiled controller starts as its Deployment says and its /metrics passes promtool check metrics", async () => {
    requireTool("promtool");
    // Leader election would wait for an API server; the metrics and health server does not need one.
    const args = argsOf("redis-dr-controller", { "8080": "0" }).filter((arg) => arg !== "--leader-elect");
    const controller = start([...args, "--metrics-host", "127.0.0.1"]);
    const ports = await loggedPorts(controller, {
      metrics: (entry) => (entry.msg === "controller listening" ? entry["metricsPort"] : undefined),
    });
    const health = await fetch(`http://127.0.0.1:${ports.metrics}/healthz`);
    assert.equal(health.status, 200);
    await assertPromtoolAccepts(`http://127.0.0.1:${ports.metrics}/metrics`);
  });
});

/** Fetches a /metrics page and runs it through `promtool check metrics`, which must find nothing. */
async function assertPromtoolAccepts(url: string): Promise<void> {
  const metrics = await (await fetch(url)).text();
  assert.match(metrics, /^# HELP /m);
  assert.match(metrics, /^# TYPE \w+ (counter|histogram|gauge)$/m);
  const check = spawnSync("promtool", ["check", "metrics"], { input: metrics, encoding: "utf8" });
  assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  assert.equal(`${check.stdout}${check.stderr}`.trim(), "");
}

type LogEntry = Readonly<Record<string, unknown>> & { readonly msg?: string };

/**
 * Reads a program's JSON log lines until each extractor has found its port (a number in some log line).
 * Fails if the program exits first.
 */
async function loggedPorts<K extends string>(
  child: ChildProcess,
  extractors: Readonly<Record<K, (entry: LogEntry) => unknown>>,
): Promise<Record<K, number>> {
  assert.ok(child.stdout);
  const lines = createInterface({ input: child.stdout });
  const found: Partial<Record<K, number>> = {};
  const names = Object.keys(extractors) as K[];
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`the program exited with ${String(code)} before listening`);
  });
  const listening = (async () => {
    for await (const line of lines) {
      let entry: LogEntry;
      try {
        entry = JSON.parse(line) as LogEntry;
      } catch {
        continue; // not a log line
      }
      for (const name of names) {
        const port = extractors[name](entry);
        if (typeof port === "number") found[name] = port;
      }
      if (names.every((name) => found[name] !== undefined)) return found as Record<K, number>;
    }
    throw new Error("the program's log ended before it listened");
  })();
  return Promise.race([listening, exited]);
}

/** POSTs a minimal AdmissionReview over HTTPS, trusting the webhook's own certificate; returns the status. */
function postAdmissionReview(port: number, ca: Buffer): Promise<number> {
  const review = JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "b6f0e6a4-0000-4000-8000-000000000001",
      kind: { group: "redis.io", version: "v1", kind: "RedisCluster" },
      resource: { group: "redis.io", version: "v1", resource: "redisclusters" },
      name: "dr-redis",
      namespace: "production",
      operation: "CREATE",
      userInfo: { username: "test" },
      object: {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: "dr-redis", namespace: "production" },
        spec: { instances: 1, storage: { size: "1Gi" } },
      },
      dryRun: false,
    },
  });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/validate-redis-io-v1-rediscluster",
        method: "POST",
        ca,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(review);
  });
}
