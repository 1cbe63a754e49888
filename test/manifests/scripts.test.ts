/**
 * The shell scripts shipped for real clusters, which cannot run here (no Docker, no kind): ShellCheck, the
 * standard shell linter, finds nothing in them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";
import { MANIFESTS, REPO_ROOT, kustomize, list, oneOf, requireTool } from "./helpers.ts";

function shellcheck(args: readonly string[], input?: string): string {
  requireTool("shellcheck");
  const result = spawnSync("shellcheck", args, { input, encoding: "utf8", cwd: REPO_ROOT });
  return `${result.status}\n${result.stdout}${result.stderr}`;
}

describe("shell scripts", () => {
  it("hack/kind-e2e.sh passes ShellCheck", () => {
    assert.equal(shellcheck(["hack/kind-e2e.sh"]), "0\n");
  });

  it("the DR health-check CronJob's script passes ShellCheck as POSIX sh", () => {
    const cronJob = oneOf(
      kustomize(path.join(MANIFESTS, "examples/dr-health-check")),
      "CronJob",
      "dr-health-check",
    );
    const container = list(cronJob, "spec", "jobTemplate", "spec", "template", "spec", "containers")[0];
    const script = list(container, "command")[2];
    assert.equal(typeof script, "string");
    assert.equal(shellcheck(["--shell=sh", "-"], script as string), "0\n");
  });
});
