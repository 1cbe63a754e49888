/**
 * The DR pair's write rate, RPO and backlog horizon on /metrics, with real redis-server processes: a source
 * under a steady write load, then cut off from the pods and the controller. Loopback range 127.87.1.0/24.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ControllerMetrics } from "../../../controller/metrics/metrics.ts";
import { MIB, recommendedBacklogBytes } from "../../../controller/replication/decisions/rpo.ts";
import { DrHarness, infoField, startWriteLoad } from "../../support/dr-harness.ts";
import { TcpProxy } from "../../support/tcp-proxy.ts";

const net = "127.87.1";
const SERIES = /^(redis_dr_[a-z_]+)\{namespace="prod",cluster="dr"\} (\S+)$/;

/** The per-cluster DR series /metrics shows, by name. */
async function drSeries(metrics: ControllerMetrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await metrics.registry.metrics()).split("\n")) {
    const match = SERIES.exec(line);
    if (match?.[1] !== undefined) out[match[1]] = Number(match[2]);
  }
  return out;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("RPO and backlog horizon metrics", () => {
  const h = new DrHarness(net, 2);
  const wan = new TcpProxy(`${net}.2`, 6379, { host: `${net}.1`, port: 6379 });
  const metrics = new ControllerMetrics();

  /** One observation pass whose status is kept, as report-status does; its figures go to the metrics. */
  async function observe() {
    const report = await h.report();
    h.status = report.transaction(h.status);
    metrics.setDrFigures("prod", "dr", report.dr);
    return { sourceOffset: h.status.replication?.sourceOffset, seen: h.status.replication?.sourceLastSeen };
  }

  before(async () => {
    await h.start();
    await wan.start();
    h.sourceAddress = { host: wan.host, port: wan.port };
    h.spec = h.replicaSpec(false, "direct");
    h.trackSource = true;
    await h.reconcileUntil(
      "caught up",
      async () => h.status.replication?.linkStatus === "Up" && h.status.replication.lagBytes === 0,
    );
  });
  after(async () => {
    await wan.stop();
    await h.stop();
  });

  it("reports the source's write rate, the RPO and a too short horizon with the command that fixes it", async () => {
    const source = h.source.client();
    try {
      await source.call("CONFIG", "SET", "repl-backlog-size", "65536");
    } finally {
      source.disconnect();
    }
    const load = startWriteLoad(h.source);
    try {
      // Rates come from sightings at least a second apart (a closer one keeps the earlier sample): this is
      // spacing, nothing is timed.
      await pause(1200);
      const first = await observe();
      await pause(1200);
      const second = await observe();
      const backlog = Number(await infoField(h.source, "replication", "repl_backlog_size"));
      assert.equal(backlog, 65536);

      const seconds = (Date.parse(second.seen ?? "") - Date.parse(first.seen ?? "")) / 1000;
      const rate = ((second.sourceOffset ?? 0) - (first.sourceOffset ?? 0)) / seconds;
      assert.ok(rate > 0, `the load wrote nothing: ${JSON.stringify([first, second])}`);
      const lag = h.status.replication?.lagBytes;
      assert.ok(lag !== undefined);
      const figures = await drSeries(metrics);
      assert.deepEqual(Object.keys(figures), [
        "redis_dr_source_write_rate_bytes_per_second",
        "redis_dr_rpo_seconds",
        "redis_dr_backlog_horizon_seconds",
      ]);
      assert.ok(Math.abs((figures["redis_dr_source_write_rate_bytes_per_second"] ?? 0) - rate) < 1e-6);
      assert.ok(Math.abs((figures["redis_dr_rpo_seconds"] ?? -1) - lag / rate) < 1e-9);
      assert.ok(
        Math.abs((figures["redis_dr_backlog_horizon_seconds"] ?? -1) - Math.max(0, backlog - lag) / rate) <
          1e-9,
      );

      const condition = h.condition("BacklogHorizon");
      assert.equal(condition?.status, "False");
      assert.equal(condition?.reason, "BacklogTooSmall");
      // An hour of writes at the rate seen, rounded up to a MiB; a recommendation made a pass earlier is kept
      // while the rate's noise moves it by 25 % or less.
      const recommended = Number(/CONFIG SET repl-backlog-size (\d+) /.exec(condition?.message ?? "")?.[1]);
      assert.equal(recommended % MIB, 0);
      const now = recommendedBacklogBytes(rate);
      assert.ok(Math.abs(recommended - now) <= recommended * 0.25, `${recommended} vs ${now}`);
      assert.ok(
        condition?.message.endsWith(
          `on the source run CONFIG SET repl-backlog-size ${recommended} (and set it in its configuration file)`,
        ),
        condition?.message,
      );

      // The source's operators follow the advice: the horizon is over the threshold at once.
      const admin = h.source.client();
      try {
        await admin.call("CONFIG", "SET", "repl-backlog-size", String(recommended));
      } finally {
        admin.disconnect();
      }
      await pause(1200);
      await observe();
      assert.equal(h.condition("BacklogHorizon")?.status, "True");
      const horizon = (await drSeries(metrics))["redis_dr_backlog_horizon_seconds"];
      assert.ok(horizon !== undefined && horizon >= 300, `horizon ${horizon}`);
    } finally {
      await load.stop();
    }
  });

  it("while the source cannot be asked, the RPO grows from its last lag-time and the rest has no series", async () => {
    await pause(1200);
    await observe();
    const lastSeen = Date.parse(h.status.replication?.sourceLastSeen ?? "");
    const lastRpo = (await drSeries(metrics))["redis_dr_rpo_seconds"];
    assert.ok(lastRpo !== undefined);

    wan.partition();
    const from = Date.now();
    const cut = await observe();
    const to = Date.now();
    assert.equal(cut.seen, h.status.replication?.sourceLastSeen);
    const figures = await drSeries(metrics);
    assert.deepEqual(Object.keys(figures), ["redis_dr_rpo_seconds"]);
    const rpo = figures["redis_dr_rpo_seconds"] ?? -1;
    // The controller's clock read lies between the two reads around the pass.
    assert.ok(rpo >= lastRpo + (from - lastSeen) / 1000, `${rpo} < ${lastRpo} + ${(from - lastSeen) / 1000}`);
    assert.ok(rpo <= lastRpo + (to - lastSeen) / 1000, `${rpo} > ${lastRpo} + ${(to - lastSeen) / 1000}`);
    wan.heal();
  });

  it("once promoted, the cluster has no DR series but its data-loss window, and BacklogHorizon is moot", async () => {
    h.spec = h.replicaSpec(true, "direct");
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed", 40);
    const report = await h.report();
    h.status = report.transaction(h.status);
    metrics.setDrFigures("prod", "dr", report.dr);
    const lost = h.status.promotion?.lagAtPromotionBytes;
    assert.equal(typeof lost, "number");
    metrics.setPromotionDataLoss("prod", "dr", lost);
    assert.deepEqual(await drSeries(metrics), { redis_dr_promotion_data_loss_bytes: lost });
    const condition = h.condition("BacklogHorizon");
    assert.deepEqual(
      [condition?.status, condition?.reason, condition?.message],
      ["True", "NotReplicating", "The cluster does not replicate from a source"],
    );
  });
});
