/**
 * hack/k8s/build.sh's cache: a hit needs no Go at all; without Go a miss fails with what to install; an
 * interrupted build leaves no half-written binary (a stand-in `go` that writes half a binary, then hangs).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { controlPlaneBinaries } from "../../hack/k8s/cluster.ts";
import { REPO_ROOT } from "../../hack/sandbox/sandbox.ts";
import { waitFor } from "../../hack/sandbox/testing.ts";

const BUILD = join(REPO_ROOT, "hack/k8s/build.sh");
/** A PATH with the system's tools but no Go (Go lives in /usr/local/go/bin or ~/go/bin here). */
const NO_GO_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

const scratch = mkdtempSync(join(tmpdir(), "redis-dr-build-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("hack/k8s/build.sh", () => {
  it("answers a cache hit with the cached directory, without Go", () => {
    const built = controlPlaneBinaries();
    const hit = spawnSync("bash", [BUILD], { encoding: "utf8", env: { ...process.env, PATH: NO_GO_PATH } });
    assert.equal(hit.status, 0, hit.stderr);
    assert.equal(hit.stdout.trim(), built);
    assert.equal(hit.stderr, "");
  });

  it("fails a miss without Go with what to install, leaving the cache empty", () => {
    const cache = join(scratch, "no-go");
    const miss = spawnSync("bash", [BUILD], {
      encoding: "utf8",
      env: { ...process.env, PATH: NO_GO_PATH, REDIS_DR_K8S_CACHE: cache },
    });
    assert.equal(miss.status, 1);
    assert.equal(
      miss.stderr.trim(),
      "building the control plane needs Go 1.26 or newer (https://go.dev/dl/); go is not on PATH",
    );
    assert.equal(existsSync(cache) ? readdirSync(cache).length : 0, 0);
  });

  it("leaves no half-written binary when interrupted, and stops the compiler", async () => {
    const bin = join(scratch, "fake-go-bin");
    const cache = join(scratch, "interrupted");
    const pidFile = join(scratch, "fake-go.pid");
    spawnSync("mkdir", ["-p", bin]);
    // The stand-in compiler writes half of its -o file, then hangs like a long link step.
    writeFileSync(
      join(bin, "go"),
      [
        "#!/bin/sh",
        `echo $$ > ${pidFile}`,
        'while [ $# -gt 0 ]; do if [ "$1" = -o ]; then printf half > "$2"; fi; shift; done',
        "exec sleep 60",
        "",
      ].join("\n"),
    );
    chmodSync(join(bin, "go"), 0o755);
    const build = spawn("bash", [BUILD], {
      env: { ...process.env, PATH: `${bin}:${NO_GO_PATH}`, REDIS_DR_K8S_CACHE: cache },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => build.on("exit", (code) => resolve(code)));
    await waitFor(() => existsSync(pidFile), { what: "the stand-in compiler running", timeoutMs: 10_000 });
    const half = readdirSync(cache).filter((entry) => entry.startsWith(".build-"));
    assert.equal(half.length, 1);
    assert.ok(existsSync(join(cache, half[0] ?? "", "etcd")));
    build.kill("SIGTERM");
    assert.equal(await exited, 143);
    assert.deepEqual(readdirSync(cache), []);
    const compiler = Number(spawnSync("cat", [pidFile], { encoding: "utf8" }).stdout.trim());
    await waitFor(() => !existsSync(`/proc/${compiler}`) || !processAlive(compiler), {
      what: "the stand-in compiler stopped",
      timeoutMs: 5_000,
    });
  });
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
