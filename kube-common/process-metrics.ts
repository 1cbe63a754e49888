/**
 * The process's memory as Prometheus gauges, read when scraped: what an operator's memory alert and the
 * benchmarks need (resident set, V8 heap used and reserved, memory outside the heap), under the names
 * prom-client's default collectors and Node.js dashboards use. Not those collectors themselves: some of
 * their gauges end in `_total` (nodejs_active_handles_total…), which promtool rejects for a gauge, and
 * they run an event-loop monitor and a GC observer per call, process-wide.
 */
import { Gauge, type Registry } from "prom-client";

export function registerProcessMemory(registry: Registry): void {
  // One process.memoryUsage() per scrape, not one per gauge: a registry collects its metrics in the order
  // they were registered, so the first gauge reads and the three after it use that reading.
  let usage: NodeJS.MemoryUsage | undefined;
  const gauge = (name: string, help: string, figure: (usage: NodeJS.MemoryUsage) => number, read = false) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        if (read || usage === undefined) usage = process.memoryUsage();
        this.set(figure(usage));
      },
    });
  gauge("process_resident_memory_bytes", "Resident memory size in bytes.", (usage) => usage.rss, true);
  gauge("nodejs_heap_size_used_bytes", "V8 heap in use, in bytes.", (usage) => usage.heapUsed);
  gauge("nodejs_heap_size_total_bytes", "V8 heap reserved, in bytes.", (usage) => usage.heapTotal);
  gauge(
    "nodejs_external_memory_bytes",
    "Memory of C++ objects bound to JavaScript objects (buffers among them), in bytes.",
    (usage) => usage.external,
  );
}
