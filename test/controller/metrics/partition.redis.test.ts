/**
 * The per-pod metrics through a full partition, with real redis-server processes: the source cut off from
 * the pods and from the controller. Loopback range 127.69.1.0/24.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ControllerMetrics } from "../../../controller/metrics/metrics.ts";
import { DrHarness, infoField } from "../../support/dr-harness.ts";
import { TcpProxy } from "../../support/tcp-proxy.ts";

const net = "127.69.1";

async function writeKeys(h: DrHarness, prefix: string, count: number): Promise<void> {
  const client = h.source.client();
  try {
    for (let i = 0; i < count; i++) await client.set(`${prefix}-${i}`, "x".repeat(100));
  } finally {
    client.disconnect();
  }
}

/** The exported series of one metric for one pod, as numbers. */
async function seriesOf(metrics: ControllerMetrics, name: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await metrics.registry.metrics()).split("\n")) {
    const match = new RegExp(`^${name}\\{namespace="prod",cluster="dr",pod="([^"]+)"\\} (\\S+)$`).exec(line);
    if (match?.[1] !== undefined) out[match[1]] = Number(match[2]);
  }
  return out;
}

describe("the lag metric during a full partition", () => {
  const h = new DrHarness(net, 2);
  // The WAN: the pods and the controller reach the source only through this proxy.
  const wan = new TcpProxy(`${net}.2`, 6379, { host: `${net}.1`, port: 6379 });
  const metrics = new ControllerMetrics();
  before(async () => {
    await h.start();
    await wan.start();
    h.sourceAddress = { host: wan.host, port: wan.port };
    h.spec = h.replicaSpec(false, "direct");
    await writeKeys(h, "seed", 10);
    await h.reconcileUntil(
      "caught up",
      async () => h.status.replication?.linkStatus === "Up" && h.status.replication.lagBytes === 0,
    );
  });
  after(async () => {
    await wan.stop();
    await h.stop();
  });

  it("keeps reporting the lag against the last known source offset, the figure status reports", async () => {
    // First only the pods are cut: the controller still sees the source run ahead of them.
    wan.partition(h.pods.map((p) => p.host));
    await writeKeys(h, "during", 50);
    await h.reconcileUntil("link down", async () => h.status.replication?.linkStatus === "Down");
    const sourceOffset = Number(await infoField(h.source, "replication", "master_repl_offset"));
    assert.equal(h.status.replication?.sourceOffset, sourceOffset);

    // Then the controller is cut off the source too: the source's offset is the last one seen.
    wan.partition();
    await h.reconcile();
    const report = await h.report();
    assert.equal(report.source?.offset, undefined);
    metrics.setPodFigures("prod", "dr", report.figures);

    const podOffsets = await Promise.all(
      h.pods.map(async (p) => Number(await infoField(p, "replication", "master_repl_offset"))),
    );
    assert.ok(podOffsets.every((offset) => offset < sourceOffset));
    assert.deepEqual(await seriesOf(metrics, "redis_replication_lag_bytes"), {
      "dr-0": sourceOffset - (podOffsets[0] ?? 0),
      "dr-1": sourceOffset - (podOffsets[1] ?? 0),
    });
    assert.equal(h.status.replication?.sourceOffset, sourceOffset);
    assert.equal(h.status.replication?.lagBytes, sourceOffset - (podOffsets[0] ?? 0));
    assert.deepEqual(await seriesOf(metrics, "redis_master_link_up"), { "dr-0": 0, "dr-1": 0 });
    const downSeconds = await seriesOf(metrics, "redis_master_link_down_seconds");
    assert.deepEqual(Object.keys(downSeconds), ["dr-0", "dr-1"]);
    assert.ok(Object.values(downSeconds).every((s) => Number.isInteger(s) && s >= 0));
  });
});
