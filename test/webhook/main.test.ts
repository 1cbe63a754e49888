/**
 * `npm run webhook` as a process: flags, readiness, an answer over HTTPS, and SIGTERM.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createServer, type AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { createTestCa } from "../support/certs.ts";
import { fixture } from "../support/fixtures.ts";
import { postReview } from "../support/review-over-https.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];

after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function start(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ["--import", "tsx", "webhook/main.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  const waiters: {
    match: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  createInterface({ input: child.stdout! }).on("line", (text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    lines.push(line);
    for (const w of waiters.filter((w) => w.match(line))) w.resolve(line);
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const logLine = (msg: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = lines.find((l) => l.msg === msg);
      if (found) return resolve(found);
      waiters.push({ match: (l) => l.msg === msg, resolve });
      void exited.then((code) => reject(new Error(`exited ${code} before logging "${msg}": ${stderr}`)));
    });
  return { child, lines, logLine, exited, stderr: () => stderr };
}

/** A temporary --cert-dir holding a serving certificate from a fresh test CA. */
async function certDir() {
  const dir = await mkdtemp(join(tmpdir(), "redis-dr-webhook-main-"));
  dirs.push(dir);
  const ca = await createTestCa();
  const pair = await ca.issue("redis-dr-webhook");
  await writeFile(join(dir, "tls.crt"), pair.cert);
  await writeFile(join(dir, "tls.key"), pair.key);
  return { dir, ca };
}

test("refuses to start without --cert-dir, printing the usage", async () => {
  const webhook = start([]);
  assert.equal(await webhook.exited, 2);
  assert.match(webhook.stderr(), /--cert-dir is required\nusage: npm run webhook -- --cert-dir DIR/);
});

/** A kubeconfig in `dir` whose API server does not exist, with `user`'s fields; its path. */
async function nowhereKubeconfig(dir: string, user = "{}"): Promise<string> {
  const file = join(dir, "kubeconfig");
  await writeFile(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{name: nowhere, cluster: {server: 'http://127.40.0.1:9'}}]",
      `users: [{name: nobody, user: ${user}}]`,
      "contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody}}]",
      "current-context: nowhere",
    ].join("\n"),
  );
  return file;
}

test("refuses to start with a kubeconfig it cannot honour, naming what it does not support", async () => {
  const { dir } = await certDir();
  const kubeconfig = await nowhereKubeconfig(dir, "{exec: {command: aws}}");
  const webhook = start(["--cert-dir", dir, "--port", "0", "--health-port", "0", "--host", "127.0.0.1"], {
    KUBECONFIG: kubeconfig,
  });
  assert.equal(await webhook.exited, 1);
  const fatal = webhook.lines.find((l) => l.msg === "no usable Kubernetes credentials");
  assert.equal(fatal?.level, 60);
  assert.equal(
    (fatal?.err as { message?: string } | undefined)?.message,
    `kubeconfig ${kubeconfig}: user "nobody" uses exec, which the webhook's API client does not support ` +
      "(it supports token, tokenFile, client-certificate, client-certificate-data, client-key, client-key-data)",
  );
  assert.ok(!webhook.lines.some((l) => l.msg === "webhook ready"));
});

test("serves admission over HTTPS, reports a Kubernetes API it cannot reach, and stops on SIGTERM", async () => {
  const { dir, ca } = await certDir();
  // A kubeconfig whose API server does not exist: Secret lookups fail, and must say so.
  const kubeconfig = await nowhereKubeconfig(dir);
  const webhook = start(
    ["--cert-dir", dir, "--port", "0", "--health-port", "0", "--host", "127.0.0.1", "--cert-poll-ms", "100"],
    { KUBECONFIG: kubeconfig },
  );
  const ready = await webhook.logLine("webhook ready");
  const port = Number(ready.port);
  const ready200 = await fetch(`http://127.0.0.1:${Number(ready.healthPort)}/readyz`);
  assert.equal(ready200.status, 200);

  const body = fixture("create-redis-west");
  const answer = JSON.parse(await postReview(port, ca.certPem, body)) as Record<string, unknown>;
  const response = answer.response as { allowed: boolean; status: { message: string } };
  assert.equal(response.allowed, false);
  assert.equal(
    response.status.message,
    'RedisCluster.redis.io "redis-west" is invalid: [spec.authSecret.name: Internal error: could not check Secret ' +
      '"redis-password": could not ask whether user "kubernetes-admin" may get it: the Kubernetes API could not ' +
      "be reached, spec.replicaMode.source.authSecretName: Internal error: could not check Secret " +
      '"redis-password": could not ask whether user "kubernetes-admin" may get it: the Kubernetes API could not ' +
      "be reached]",
  );
  // The decision is logged before the answer is sent, but the log pipe may deliver it later.
  const decision = await webhook.logLine("denied");
  assert.equal(decision.uid, "3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10");

  webhook.child.kill("SIGTERM");
  assert.equal(await webhook.exited, 0);
  assert.ok(webhook.lines.some((l) => l.msg === "webhook stopped"));
});

test(
  "exits 1 with a fatal log line when its admission port is taken, instead of never becoming ready",
  { timeout: 60_000 },
  async () => {
    const { dir } = await certDir();
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const taken = (holder.address() as AddressInfo).port;
    try {
      const webhook = start(
        ["--cert-dir", dir, "--port", String(taken), "--health-port", "0", "--host", "127.0.0.1"],
        { KUBECONFIG: await nowhereKubeconfig(dir) },
      );
      assert.equal(await webhook.exited, 1);
      const fatal = webhook.lines.find((l) => l.msg === "the admission server could not start");
      assert.equal(fatal?.level, 60);
      assert.equal((fatal?.err as { code?: string } | undefined)?.code, "EADDRINUSE");
      assert.ok(!webhook.lines.some((l) => l.msg === "webhook ready"));
    } finally {
      holder.close();
    }
  },
);
