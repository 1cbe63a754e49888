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

  it("forgets a deleted cluster's series", async () => {
    const metrics = new ControllerMetrics();
    metrics.setPodFigures("prod", "dr", [{ pod: "dr-1", linkUp: 1, linkDownSeconds: 0, lagBytes: 0 }]);
    metrics.forgetCluster("prod", "dr");
    assert.deepEqual(await series(metrics), []);
  });
});
