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

  it("forgets a deleted cluster's series", async () => {
    const metrics = new ControllerMetrics();
    metrics.setPodFigures("prod", "dr", [{ pod: "dr-1", linkUp: 1, linkDownSeconds: 0, lagBytes: 0 }]);
    metrics.forgetCluster("prod", "dr");
    assert.deepEqual(await series(metrics), []);
  });
});
