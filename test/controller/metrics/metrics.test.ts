import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ControllerMetrics } from "../../../controller/metrics/metrics.ts";

const series = async (metrics: ControllerMetrics) =>
  (await metrics.registry.metrics())
    .split("\n")
    .filter((line) => line.startsWith("redis_") && !line.startsWith("redis_dr_"));

describe("ControllerMetrics", () => {
  it("exports per-pod link and lag series, none for a primary, and drops pods that went away", async () => {
    const metrics = new ControllerMetrics();
    metrics.setPodFigures("prod", "dr", [
      { pod: "dr-0", linkUp: 1, linkDownSeconds: 0, lagBytes: 11 },
      { pod: "dr-1", linkUp: 0, linkDownSeconds: 42 },
    ]);
    assert.deepEqual(await series(metrics), [
      'redis_replication_lag_bytes{namespace="prod",cluster="dr",pod="dr-0"} 11',
      'redis_master_link_up{namespace="prod",cluster="dr",pod="dr-0"} 1',
      'redis_master_link_up{namespace="prod",cluster="dr",pod="dr-1"} 0',
      'redis_master_link_down_seconds{namespace="prod",cluster="dr",pod="dr-0"} 0',
      'redis_master_link_down_seconds{namespace="prod",cluster="dr",pod="dr-1"} 42',
    ]);
    metrics.setPodFigures("prod", "dr", [{ pod: "dr-0" }]);
    assert.deepEqual(await series(metrics), []);
  });

  it("exports the current promotion phase only, and no series once the promotion is gone", async () => {
    const metrics = new ControllerMetrics();
    const phases = async () =>
      (await series(metrics)).filter((line) => line.startsWith("redis_promotion_phase"));
    assert.deepEqual(await phases(), []);
    metrics.setPromotionPhase("us-west", "redis-west", "CatchingUp");
    metrics.setPromotionPhase("us-west", "redis-west", "Promoting");
    assert.deepEqual(await phases(), [
      'redis_promotion_phase{namespace="us-west",cluster="redis-west",phase="Promoting"} 1',
    ]);
    metrics.setPromotionPhase("us-west", "redis-west", "Completed");
    assert.deepEqual(await phases(), [
      'redis_promotion_phase{namespace="us-west",cluster="redis-west",phase="Completed"} 1',
    ]);
    metrics.setPromotionPhase("us-west", "redis-west", undefined);
    assert.deepEqual(await phases(), []);
    metrics.setPromotionPhase("us-west", "redis-west", "Failed");
    metrics.forgetCluster("us-west", "redis-west");
    assert.deepEqual(await phases(), []);
  });

  it("keeps no link-down figure for a pod it cannot ask, and reports the link down", async () => {
    const metrics = new ControllerMetrics();
    metrics.setPodFigures("prod", "dr", [{ pod: "dr-1", linkUp: 0, linkDownSeconds: 42, lagBytes: 7 }]);
    metrics.setPodFigures("prod", "dr", [{ pod: "dr-1", linkUp: 0 }]);
    assert.deepEqual(await series(metrics), [
      'redis_master_link_up{namespace="prod",cluster="dr",pod="dr-1"} 0',
    ]);
  });

  it("exports the DR pair's write rate, RPO and backlog horizon, and no series for an unknown one", async () => {
    const metrics = new ControllerMetrics();
    const dr = async () =>
      (await metrics.registry.metrics())
        .split("\n")
        .filter((line) => /^redis_dr_(source_write_rate|rpo|backlog_horizon|promotion_data_loss)/.test(line));
    metrics.setDrFigures("prod", "dr", {
      writeRateBytesPerSecond: 4096,
      rpoSeconds: 0.5,
      backlogHorizonSeconds: 255.5,
    });
    metrics.setPromotionDataLoss("prod", "dr", 1234);
    assert.deepEqual(await dr(), [
      'redis_dr_source_write_rate_bytes_per_second{namespace="prod",cluster="dr"} 4096',
      'redis_dr_rpo_seconds{namespace="prod",cluster="dr"} 0.5',
      'redis_dr_backlog_horizon_seconds{namespace="prod",cluster="dr"} 255.5',
      'redis_dr_promotion_data_loss_bytes{namespace="prod",cluster="dr"} 1234',
    ]);
    // The source cannot be asked: only the RPO's bound is known.
    metrics.setDrFigures("prod", "dr", { rpoSeconds: 30.5 });
    assert.deepEqual(await dr(), [
      'redis_dr_rpo_seconds{namespace="prod",cluster="dr"} 30.5',
      'redis_dr_promotion_data_loss_bytes{namespace="prod",cluster="dr"} 1234',
    ]);
    metrics.setDrFigures("prod", "dr", { writeRateBytesPerSecond: 1 });
    metrics.forgetCluster("prod", "dr");
    assert.deepEqual(await dr(), []);
  });

  it("forgets a deleted cluster's series", async () => {
    const metrics = new ControllerMetrics();
    metrics.setPodFigures("prod", "dr", [{ pod: "dr-1", linkUp: 1, linkDownSeconds: 0, lagBytes: 0 }]);
    metrics.forgetCluster("prod", "dr");
    assert.deepEqual(await series(metrics), []);
  });

  it("counts reconciles by result, times each, and counts the ones that failed as errors", async () => {
    const metrics = new ControllerMetrics();
    assert.deepEqual(await metrics.observeReconcile(async () => ({})), {});
    assert.deepEqual(await metrics.observeReconcile(async () => ({ requeueAfterMs: 5000 })), {
      requeueAfterMs: 5000,
    });
    await metrics.observeReconcile(async () => ({}));
    const failure = new Error("API server unavailable");
    await assert.rejects(
      metrics.observeReconcile(() => Promise.reject(failure)),
      (error) => error === failure,
    );
    const lines = (await metrics.registry.metrics()).split("\n");
    const own = lines.filter(
      (line) =>
        line.startsWith("redis_dr_controller_") &&
        !line.startsWith("redis_dr_controller_reconcile_duration_seconds_bucket") &&
        !line.startsWith("redis_dr_controller_reconcile_duration_seconds_sum"),
    );
    assert.deepEqual(own, [
      'redis_dr_controller_reconcile_total{result="success"} 2',
      'redis_dr_controller_reconcile_total{result="requeue"} 1',
      'redis_dr_controller_reconcile_total{result="error"} 1',
      "redis_dr_controller_reconcile_errors_total 1",
      "redis_dr_controller_reconcile_duration_seconds_count 4",
    ]);
    assert.ok(lines.includes('redis_dr_controller_reconcile_duration_seconds_bucket{le="+Inf"} 4'));
    for (const [name, type] of [
      ["redis_dr_controller_reconcile_total", "counter"],
      ["redis_dr_controller_reconcile_errors_total", "counter"],
      ["redis_dr_controller_reconcile_duration_seconds", "histogram"],
    ]) {
      assert.ok(lines.includes(`# TYPE ${name} ${type}`), `${name} is a ${type}`);
    }
  });
});
