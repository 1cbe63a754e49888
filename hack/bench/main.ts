/**
 * Runs every benchmark, one process each, one after the other (they would disturb each other's figures):
 *
 *   npm run bench [-- --quick] [--only admission,promotion,scale,bytes]
 *
 * Each prints its own table and writes hack/bench/results/<name>.json; `--quick` is passed to each.
 */
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { printTable, round } from "./lib/stats.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
  },
});
const ALL = ["admission", "promotion", "scale", "bytes"] as const;
const selected = values.only === undefined ? [...ALL] : values.only.split(",");
const REPO = new URL("../../", import.meta.url).pathname;

function runBenchmark(name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", `hack/bench/${name}.ts`, ...(values.quick ? ["--quick"] : [])],
      { cwd: REPO, stdio: "inherit" },
    );
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

const summary: { benchmark: string; seconds: number; result: string }[] = [];
const began = performance.now();
for (const name of selected) {
  if (!(ALL as readonly string[]).includes(name)) throw new Error(`unknown benchmark ${name}`);
  console.log(`\n=== ${name}${values.quick ? " (quick)" : ""}`);
  const started = performance.now();
  const code = await runBenchmark(name);
  summary.push({
    benchmark: name,
    seconds: round((performance.now() - started) / 1000, 1),
    result: code === 0 ? "ok" : `failed (exit ${code})`,
  });
}
console.log(`\n=== all benchmarks, ${round((performance.now() - began) / 1000, 1)} s:`);
printTable(summary);
if (summary.some((s) => s.result !== "ok")) process.exitCode = 1;
