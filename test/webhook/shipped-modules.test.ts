/**
 * The webhook as the image ships it (compiled by tsc, hack/k8s/image.ts) never loads @kubernetes/client-node:
 * importing it costs about 67 MiB of RSS (it loads every generated API and model), for the two calls the
 * webhook makes with its own client (webhook/kube/api-client.ts).
 *
 * Every module the process loads is recorded — ES modules by a resolve hook (module.register), CommonJS ones
 * from require.cache at exit — while it starts, answers a review that makes it call the Kubernetes API, and
 * stops. The same recorder run on kube-common/kube-config.js (the controller's client) must see client-node,
 * so the check cannot pass because the recorder saw nothing.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, it } from "node:test";
import { pathToFileURL } from "node:url";
import { shippedProgram } from "../../hack/k8s/image.ts";
import { createTestCa } from "../support/certs.ts";
import { fixture } from "../support/fixtures.ts";
import { postReview } from "../support/review-over-https.ts";

const CLIENT_NODE = /\/node_modules\/@kubernetes\/client-node\//;

const HOOKS = `
import { appendFileSync } from "node:fs";
let file;
export function initialize(data) {
  file = data.file;
}
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(file, "esm " + result.url + "\\n");
  return result;
}
`;

const RECORDER = `
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
const file = process.env.LOADED_MODULES_FILE;
register(new URL("./hooks.mjs", import.meta.url), { data: { file } });
const require = createRequire(import.meta.url);
process.on("exit", () => {
  appendFileSync(file, Object.keys(require.cache).map((path) => "cjs " + path + "\\n").join(""));
});
`;

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "redis-dr-shipped-modules-"));
  await writeFile(join(dir, "hooks.mjs"), HOOKS);
  await writeFile(join(dir, "recorder.mjs"), RECORDER);
});
after(() => rm(dir, { recursive: true, force: true }));

/** Runs node with the recorder; resolves with the loaded modules' URLs or paths once it exits. */
async function recorded(
  name: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  /** What to do with it before it is stopped with SIGTERM (none: it exits by itself). */
  whileRunning?: (lines: AsyncIterable<string>) => Promise<void>,
): Promise<string[]> {
  const file = join(dir, `${name}.modules`);
  await writeFile(file, "");
  const child = spawn(
    process.execPath,
    ["--import", pathToFileURL(join(dir, "recorder.mjs")).href, ...args],
    {
      env: { ...process.env, ...env, LOADED_MODULES_FILE: file },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  if (whileRunning !== undefined) {
    try {
      await whileRunning(createInterface({ input: child.stdout }));
    } finally {
      child.kill("SIGTERM");
    }
  }
  assert.equal(await exited, 0, stderr);
  return (await readFile(file, "utf8")).split("\n").filter((line) => line !== "");
}

it(
  "the compiled webhook loads no @kubernetes/client-node while it starts, reviews and stops",
  { timeout: 300_000 },
  async () => {
    const { nodeArgs, main, env } = shippedProgram("webhook");
    const ca = await createTestCa();
    const pair = await ca.issue("redis-dr-webhook");
    await writeFile(join(dir, "tls.crt"), pair.cert);
    await writeFile(join(dir, "tls.key"), pair.key);
    // An API server that is not there: the review still goes through the client, which reports it.
    await writeFile(
      join(dir, "kubeconfig"),
      "clusters: [{name: c, cluster: {server: 'https://127.40.0.1:9'}}]\n" +
        "users: [{name: u, user: {token: t}}]\n" +
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    );
    let answer = "";
    const modules = await recorded(
      "webhook",
      [...nodeArgs, main, "--cert-dir", dir, "--host", "127.0.0.1", "--port", "0", "--health-port", "0"],
      { ...env, KUBECONFIG: join(dir, "kubeconfig") },
      async (lines) => {
        for await (const line of lines) {
          const log = JSON.parse(line) as { msg?: string; port?: number };
          if (log.msg !== "webhook ready") continue;
          answer = await postReview(Number(log.port), ca.certPem, fixture("create-redis-west"));
          return;
        }
      },
    );
    const review = JSON.parse(answer) as { response: { status: { message: string } } };
    assert.match(review.response.status.message, /the Kubernetes API could not be reached/);
    const image = dirname(dirname(main));
    assert.ok(modules.includes(`esm ${pathToFileURL(main).href}`), "the recorder saw the entry point");
    assert.ok(modules.some((m) => m.includes(`${image}/webhook/kube/api-client.js`)));
    assert.ok(modules.some((m) => /\/node_modules\/pino\//.test(m)));
    assert.ok(modules.some((m) => m.startsWith("cjs ") && /\/node_modules\/express\//.test(m)));
    assert.deepEqual(
      modules.filter((m) => CLIENT_NODE.test(m)),
      [],
    );
  },
);

it("the same recorder sees client-node where it is loaded: kube-common/kube-config.js, compiled", async () => {
  const { main, env } = shippedProgram("webhook");
  const kubeConfig = join(dirname(dirname(main)), "kube-common", "kube-config.js");
  const modules = await recorded(
    "kube-config",
    ["--input-type=module", "--eval", `await import(${JSON.stringify(pathToFileURL(kubeConfig).href)});`],
    env,
  );
  assert.ok(modules.some((m) => CLIENT_NODE.test(m)));
});
