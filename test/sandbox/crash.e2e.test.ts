/**
 * Nothing outlives a sandbox whose process dies without calling stop(): every pod process is tied to it by
 * a parent-death signal and lives in a PID namespace that goes with it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { waitFor } from "../../hack/sandbox/testing.ts";

/** 127.18.0.0/16: this file's sandbox. */
const RANGE = 18;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("a sandbox process killed with SIGKILL takes its Redis pods with it", async () => {
  const fixture = fileURLToPath(new URL("./crashing-sandbox.ts", import.meta.url));
  const output = await new Promise<string>((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", fixture, String(RANGE)],
      { timeout: 60_000 },
      (_error, stdout) => resolve(stdout),
    );
  });
  const { pid, ip, dir } = JSON.parse(output) as { pid: number; ip: string; dir: string };
  try {
    assert.match(ip, /^127\.18\./);
    await waitFor(() => !alive(pid), { what: `pod process ${pid} to die` });
    await waitFor(
      () => execFileSync("ss", ["-Hltn", "src", `127.${RANGE}.0.0/16`], { encoding: "utf8" }) === "",
      {
        what: "no listener left in the sandbox's range",
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
