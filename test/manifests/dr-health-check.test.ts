/**
 * The decision of the example DR health-check CronJob: its shell script, taken from the rendered CronJob and
 * run by a real POSIX sh and date, with a small fake `kubectl` that answers the one `get` with a fixed line and
 * records any `patch`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { MANIFESTS, get, kustomize, list, oneOf, withTempDir } from "./helpers.ts";

const cronJob = oneOf(
  kustomize(path.join(MANIFESTS, "examples/dr-health-check")),
  "CronJob",
  "dr-health-check",
);
const container = list(cronJob, "spec", "jobTemplate", "spec", "template", "spec", "containers")[0];
const [shell, flag, script] = list(container, "command") as string[];
const env = Object.fromEntries(
  list(container, "env").map((e) => [get(e, "name"), get(e, "value")]),
) as Record<string, string>;

const FAKE_KUBECTL = `#!/bin/sh
# Answers "kubectl get rediscluster NAME -o jsonpath=..." with $FAKE_FIELDS; records every patch.
case "$1" in
  get) printf '%s' "$FAKE_FIELDS" ;;
  patch) echo "$@" >> "$FAKE_PATCHES" ;;
  *) echo "unexpected kubectl $*" >&2; exit 1 ;;
esac
`;

interface Outcome {
  readonly output: string;
  readonly patches: string;
}

/** Runs the CronJob's script with the fields kubectl would print (enabled|promote|gen|observed|link|since). */
function runCheck(fields: string): Outcome {
  return withTempDir((directory) => {
    const kubectl = path.join(directory, "kubectl");
    writeFileSync(kubectl, FAKE_KUBECTL);
    chmodSync(kubectl, 0o755);
    const patches = path.join(directory, "patches");
    const result = spawnSync(shell ?? "", [flag ?? "", script ?? ""], {
      encoding: "utf8",
      env: {
        PATH: `${directory}:${process.env["PATH"]}`,
        HOME: directory,
        CLUSTER: env["CLUSTER"],
        PROMOTE_AFTER_SECONDS: env["PROMOTE_AFTER_SECONDS"],
        FAKE_FIELDS: fields,
        FAKE_PATCHES: patches,
      },
    });
    assert.equal(result.status, 0, `the check failed: ${result.stderr}`);
    return {
      output: result.stdout.trim(),
      patches: existsSync(patches) ? readFileSync(patches, "utf8") : "",
    };
  });
}

const secondsAgo = (seconds: number) =>
  new Date(Date.now() - seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");
const PROMOTE = 'patch rediscluster dr-redis --type=merge -p {"spec":{"replicaMode":{"promote":true}}}\n';

describe("the DR health-check CronJob's decision", () => {
  it("runs as sh -c for dr-redis and promotes after 300 s of link down", () => {
    assert.deepEqual([shell, flag], ["/bin/sh", "-c"]);
    assert.equal(env["CLUSTER"], "dr-redis");
    assert.equal(env["PROMOTE_AFTER_SECONDS"], "300");
  });

  it("promotes when the link has been down longer than the threshold", () => {
    const outcome = runCheck(`true||3|3|Down|${secondsAgo(600)}`);
    assert.equal(outcome.patches, PROMOTE);
    assert.match(outcome.output, /^dr-redis: link down for 6\d\ds: promoting$/);
  });

  it("reads a linkDownSince with fractional seconds", () => {
    const since = new Date(Date.now() - 900_000).toISOString(); // 2026-…T…:…:….123Z
    assert.equal(runCheck(`true|false|3|3|Down|${since}`).patches, PROMOTE);
  });

  it("waits while the link has been down for less than the threshold", () => {
    const outcome = runCheck(`true||3|3|Down|${secondsAgo(60)}`);
    assert.equal(outcome.patches, "");
    assert.match(outcome.output, /^dr-redis: link down for \d+s \(promoting after 300s\)$/);
  });

  it("does nothing while the link is up", () => {
    assert.deepEqual(runCheck("true||3|3|Up|"), { output: "dr-redis: replication link is Up", patches: "" });
  });

  it("does nothing when the status has no replication fields yet", () => {
    assert.deepEqual(runCheck("true||1||"), {
      output: "dr-redis: the controller has not observed generation 1 yet: not deciding",
      patches: "",
    });
    assert.deepEqual(runCheck("true||1|1||"), {
      output: "dr-redis: replication link is unknown",
      patches: "",
    });
  });

  it("does nothing before the controller has observed the latest spec", () => {
    const outcome = runCheck(`true||4|3|Down|${secondsAgo(600)}`);
    assert.equal(outcome.patches, "");
    assert.equal(outcome.output, "dr-redis: the controller has not observed generation 4 yet: not deciding");
  });

  it("does nothing once promotion was requested, or when replica mode is off", () => {
    const promoted = runCheck(`true|true|5|5|Down|${secondsAgo(600)}`);
    assert.deepEqual(promoted, {
      output: "dr-redis is not replicating (enabled=true promote=true): nothing to do",
      patches: "",
    });
    const standalone = runCheck("||2|2||");
    assert.deepEqual(standalone, {
      output: "dr-redis is not replicating (enabled= promote=): nothing to do",
      patches: "",
    });
  });
});
