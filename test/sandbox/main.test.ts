/**
 * `npm run sandbox` (hack/sandbox/main.ts): one "ready" line naming the kubeconfig, a working cluster with the
 * CRD, no webhook configurations with --no-operator, and nothing left once it gets SIGTERM.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../../hack/sandbox/sandbox.ts";
import { waitFor } from "../../hack/sandbox/testing.ts";

/** 127.17.0.0/16: this file's sandbox. */
const RANGE = 17;

test("npm run sandbox -- --no-operator starts, answers kubectl, and stops everything on SIGTERM", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sandbox-main-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, "kubeconfig");
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "hack/sandbox/main.ts",
      "--no-operator",
      "--range",
      String(RANGE),
      "--kubeconfig",
      kubeconfig,
    ],
    {
      cwd: REPO_ROOT,
    },
  );
  t.after(() => child.kill("SIGKILL"));
  let stdout = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  await waitFor(() => stdout.includes("\n"), { timeoutMs: 30_000, what: "the ready line" });
  assert.match(
    stdout,
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
