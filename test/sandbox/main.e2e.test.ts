/**
 * `npm run sandbox` (hack/sandbox/main.ts): one "ready" line naming the kubeconfig, a working cluster with the
 * CRD; by default the webhook and the controller running with their webhook configurations installed, none
 * with --no-operator; and nothing left once it gets SIGTERM.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { REPO_ROOT } from "../../hack/sandbox/sandbox.ts";
import { waitFor } from "../../hack/sandbox/testing.ts";

/** 127.17.0.0/16: this file's sandbox with --no-operator; 127.61.0.0/16: the one with the operator. */
const RANGE = 17;
const OPERATOR_RANGE = 61;

/** Starts `npm run sandbox` (main.ts) with `args`; killed with SIGKILL after the test if still running. */
function startMain(
  t: { after: (fn: () => void) => void },
  args: string[],
): {
  child: ChildProcessWithoutNullStreams;
  kubeconfig: string;
  stdout: () => string;
  exited: Promise<number | null>;
} {
  const dir = mkdtempSync(join(tmpdir(), "sandbox-main-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, "kubeconfig");
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "hack/sandbox/main.ts", ...args, "--kubeconfig", kubeconfig],
    { cwd: REPO_ROOT },
  );
  t.after(() => child.kill("SIGKILL"));
  let stdout = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, kubeconfig, stdout: () => stdout, exited };
}

interface ProcessInfo {
  pid: number;
  /** Field 22 of /proc/PID/stat: with the pid, identifies the process even if the pid is reused. */
  startTime: string;
  comm: string;
  cmdline: string;
}

function processInfo(pid: number): (ProcessInfo & { ppid: number; state: string }) | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after its last ")".
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    return {
      pid,
      state: fields[0] ?? "",
      ppid: Number(fields[1]),
      startTime: fields[19] ?? "",
      comm,
      cmdline,
    };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** Every process below `root` (children, their children …). */
function descendants(root: number): ProcessInfo[] {
  const all = readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map((name) => processInfo(Number(name)))
    .filter((p) => p !== undefined);
  const found: ProcessInfo[] = [];
  const parents = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        found.push(p);
        grew = true;
      }
    }
  }
  return found;
}

/** The same process (pid and start time) still exists and is not a zombie waiting to be reaped. */
const stillRunning = (p: ProcessInfo): boolean => {
  const now = processInfo(p.pid);
  return now !== undefined && now.startTime === p.startTime && now.state !== "Z";
};

test("npm run sandbox -- --no-operator starts, answers kubectl, and stops everything on SIGTERM", async (t) => {
  const { child, kubeconfig, stdout, exited } = startMain(t, ["--no-operator", "--range", String(RANGE)]);

  await waitFor(() => stdout().includes("\n"), { timeoutMs: 30_000, what: "the ready line" });
  assert.match(
    stdout(),
    new RegExp(
      `^sandbox ready: export KUBECONFIG=${kubeconfig} \\(API https://127\\.17\\.0\\.1:\\d+, pods in 127\\.17\\.0\\.0/16, no operator;`,
    ),
  );
  const kubectl = (...args: string[]) =>
    execFileSync("kubectl", args, { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: "utf8" });
  assert.equal(
    kubectl("get", "crd", "-o", "name"),
    "customresourcedefinition.apiextensions.k8s.io/redisclusters.redis.io\n",
  );
  assert.equal(
    kubectl("get", "validatingwebhookconfigurations,mutatingwebhookconfigurations", "-o", "name"),
    "",
  );

  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  assert.equal(execFileSync("ss", ["-Hltn", "src", `127.${RANGE}.0.0/16`], { encoding: "utf8" }), "");
});

test("npm run sandbox starts the webhook and the controller, whose webhooks answer, and stops them on SIGTERM", async (t) => {
  const { child, kubeconfig, stdout, exited } = startMain(t, ["--range", String(OPERATOR_RANGE)]);
  // A cold `node --import tsx` start of each operator process takes seconds on a busy machine.
  await waitFor(() => stdout().includes("\n"), { timeoutMs: 120_000, what: "the ready line" });
  const ready = new RegExp(
    `^sandbox ready: export KUBECONFIG=${kubeconfig} \\(API https://127\\.${OPERATOR_RANGE}\\.0\\.1:\\d+, pods in 127\\.${OPERATOR_RANGE}\\.0\\.0/16, running webhook and controller; logs in \\S+ and (\\S+)/logs\\)\n$`,
  ).exec(stdout());
  assert.ok(ready, `the ready line: ${stdout()}`);
  const sandboxDir = ready[1] ?? "";
  const env = { ...process.env, KUBECONFIG: kubeconfig };
  const kubectl = (args: string[], input?: string) => {
    const result = spawnSync("kubectl", args, { env, input, encoding: "utf8" });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  // The webhook configurations from manifests/, with the sandbox CA (the kubeconfig's) injected as caBundle.
  const ca = (
    YAML.parse(readFileSync(kubeconfig, "utf8")) as { clusters: { cluster: Record<string, string> }[] }
  ).clusters[0]?.cluster["certificate-authority-data"];
  const caBundles = kubectl([
    "get",
    "mutatingwebhookconfigurations,validatingwebhookconfigurations",
    "-o",
    'jsonpath={range .items[*].webhooks[*]}{.name}={.clientConfig.caBundle}{"\\n"}{end}',
  ]);
  assert.deepEqual(
    [caBundles.code, caBundles.stdout],
    [0, `mutate.redisclusters.redis.io=${ca ?? ""}\nvalidate.redisclusters.redis.io=${ca ?? ""}\n`],
  );

  // The webhook answers: only it can know that the Secret is missing (the CRD's schema cannot).
  const cluster = (name: string) =>
    YAML.stringify({
      apiVersion: "redis.io/v1",
      kind: "RedisCluster",
      metadata: { name, namespace: "default" },
      spec: { instances: 1, authSecret: { name: "main-auth" } },
    });
  const refused = kubectl(["apply", "-f", "-"], cluster("refused"));
  assert.deepEqual(
    [refused.code, refused.stderr],
    [
      1,
      // kubectl prints a 422 from its details: the denial of validate.redisclusters.redis.io.
      'The RedisCluster "refused" is invalid: spec.authSecret.name: Not found: "main-auth": Secret "main-auth" not found in namespace "default"\n',
    ],
  );

  // With the Secret, the controller makes the cluster's pod: a real redis-server.
  const secret = kubectl(["create", "secret", "generic", "main-auth", "--from-literal=password=main-test"]);
  assert.equal(secret.code, 0, secret.stderr);
  const created = kubectl(["apply", "-f", "-"], cluster("main"));
  assert.deepEqual([created.code, created.stdout], [0, "rediscluster.redis.io/main created\n"]);
  await waitFor(
    () =>
      kubectl(["get", "pod", "main-0", "-o", "jsonpath={.status.phase}"]).stdout === "Running" &&
      descendants(child.pid ?? 0).some((p) => p.comm === "redis-server"),
    { timeoutMs: 60_000, what: "the pod main-0 to run redis-server" },
  );

  const started = descendants(child.pid ?? 0);
  const find = (what: string, match: (p: ProcessInfo) => boolean) => {
    const found = started.filter(match);
    assert.equal(found.length, 1, `one ${what} process among ${started.map((p) => p.cmdline).join("; ")}`);
    return found[0] as ProcessInfo;
  };
  const webhook = find("webhook", (p) => p.comm === "node" && p.cmdline.includes("webhook/main.ts"));
  const controller = find("controller", (p) => p.comm === "node" && p.cmdline.includes("controller/main.ts"));
  const redis = find("redis-server", (p) => p.comm === "redis-server");
  // The sandbox removes its directory on stop: keep the logs open to read how the operator processes ended.
  const logs = ["webhook", "controller"].map((name) =>
    openSync(join(sandboxDir, "logs", `${name}.log`), "r"),
  );
  t.after(() => logs.forEach((fd) => closeSync(fd)));

  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  for (const p of [webhook, controller, redis, ...started]) {
    assert.equal(stillRunning(p), false, `${p.pid} (${p.cmdline}) is still running`);
  }
  assert.equal(
    execFileSync("ss", ["-Hltn", "src", `127.${OPERATOR_RANGE}.0.0/16`], { encoding: "utf8" }),
    "",
  );
  // The webhook process is what denied the request; both were stopped with SIGTERM and shut down cleanly,
  // not killed by their parent-death signal when the sandbox exited.
  const [webhookLog, controllerLog] = logs.map((fd) =>
    readFileSync(fd, "utf8")
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { msg?: string; signal?: string; name?: string }),
  );
  assert.ok(webhookLog?.some((line) => line.msg === "denied" && line.name === "refused"));
  // The last two lines, in either order: pino's asynchronous writes may land out of order at exit.
  assert.deepEqual(
    webhookLog
      ?.slice(-2)
      .map((line) => [line.msg, line.signal])
      .sort(),
    [
      ["stopping", "SIGTERM"],
      ["webhook stopped", undefined],
    ],
  );
  assert.ok(controllerLog?.slice(-3).some((line) => line.msg === "controller stopped"));
});
