/**
 * The process's memory gauges both programs export (kube-common/process-metrics.ts): present with this
 * process's figures when scraped, and accepted by Prometheus' own `promtool check metrics`, which the
 * prom-client default collectors are not (their `*_total` gauges).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { Registry, collectDefaultMetrics } from "prom-client";
import { registerProcessMemory } from "../../kube-common/process-metrics.ts";
import { requireTool } from "../manifests/helpers.ts";

const value = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);

/** promtool's complaints about an exposition (empty: none). */
function promtoolProblems(text: string): string {
  const run = spawnSync(requireTool("promtool"), ["check", "metrics"], { input: text, encoding: "utf8" });
  return `${run.stdout}${run.stderr}`.trim();
}

describe("registerProcessMemory", () => {
  it("exports the resident set and the V8 heap as this process has them at the scrape", async () => {
    const registry = new Registry();
    registerProcessMemory(registry);
    const text = await registry.metrics();
    const rss = value(text, "process_resident_memory_bytes");
    const used = value(text, "nodejs_heap_size_used_bytes");
    const total = value(text, "nodejs_heap_size_total_bytes");
    assert.ok(used > 0 && used <= total && total < rss, `used ${used}, total ${total}, rss ${rss}`);
    assert.ok(value(text, "nodejs_external_memory_bytes") > 0);
    // Read at each scrape: a 64 MiB buffer shows up in the next one.
    const held = Buffer.alloc(64 * 2 ** 20, 1);
    const after = await registry.metrics();
    assert.ok(value(after, "nodejs_external_memory_bytes") >= held.length);
  });

  it("reads the process's memory once per scrape, for all four gauges", async (t) => {
    const registry = new Registry();
    registerProcessMemory(registry);
    const read = t.mock.method(process, "memoryUsage");
    await registry.metrics();
    assert.equal(read.mock.callCount(), 1);
    await registry.metrics();
    assert.equal(read.mock.callCount(), 2);
  });

  it("passes promtool check metrics, where prom-client's default collectors do not", async () => {
    const ours = new Registry();
    registerProcessMemory(ours);
    assert.equal(promtoolProblems(await ours.metrics()), "");
    const defaults = new Registry();
    collectDefaultMetrics({ register: defaults });
    assert.match(promtoolProblems(await defaults.metrics()), /_total.*non-counter|non-counter.*_total/);
  });
});
