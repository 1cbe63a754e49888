/**
 * The reconcile of one cluster (controller/reconcile/reconciler.ts): a pass whose spec changed under it
 * (SpecChangedError from a status write) ends and asks for the next pass at once; other failures are thrown
 * to the work queue, which backs off.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { SpecChangedError, type ClusterApi } from "../../../controller/kube/cluster-api.ts";
import { ControllerMetrics } from "../../../controller/metrics/metrics.ts";
import type { ReconcileDeps, Step } from "../../../controller/reconcile/context.ts";
import { CONTINUE } from "../../../controller/reconcile/context.ts";
import { reconcileCluster } from "../../../controller/reconcile/reconciler.ts";
import type { RedisAdminFactory } from "../../../controller/redis/admin-port.ts";
import { cluster } from "../../support/clusters.ts";

const deps = {
  api: { getCluster: () => Promise.resolve(cluster({ instances: 3 })) } as unknown as ClusterApi,
  redis: {} as RedisAdminFactory,
  metrics: new ControllerMetrics(),
  log: pino({ level: "silent" }),
  now: () => new Date(),
  resyncMs: 5_000,
} satisfies ReconcileDeps;

describe("reconcileCluster", () => {
  it("ends a pass whose spec changed under it, runs no later step, and asks for the next pass now", async () => {
    const ran: string[] = [];
    const steps: Step[] = [
      {
        name: "writes",
        run: () => {
          ran.push("writes");
          throw new SpecChangedError("default", "redis-west", 1, 2);
        },
      },
      { name: "after", run: () => (ran.push("after"), Promise.resolve(CONTINUE)) },
    ];
    assert.deepEqual(await reconcileCluster(deps, "default", "redis-west", steps), { requeueAfterMs: 0 });
    assert.deepEqual(ran, ["writes"]);
  });

  it("throws any other failure, for the work queue's backoff", async () => {
    const steps: Step[] = [{ name: "fails", run: () => Promise.reject(new Error("HTTP 500")) }];
    await assert.rejects(reconcileCluster(deps, "default", "redis-west", steps), /HTTP 500/);
  });
});
