/**
 * One reconcile of one RedisCluster: load it, run the steps in order, say when to come back.
 */
import { SpecChangedError } from "../kube/cluster-api.ts";
import type { ReconcileDeps, Step } from "./context.ts";
import { ReconcileContext } from "./context.ts";
import { STEPS } from "./steps/index.ts";

export async function reconcileCluster(
  deps: ReconcileDeps,
  namespace: string,
  name: string,
  steps: readonly Step[] = STEPS,
): Promise<{ requeueAfterMs?: number }> {
  const cluster = await deps.api.getCluster(namespace, name);
  if (cluster === undefined) {
    // Deleted: its StatefulSet and Services go with it (owner references); only the metrics are ours to drop.
    deps.metrics.forgetCluster(namespace, name);
    deps.sourceMemory?.delete(`${namespace}/${name}`);
    deps.specHashes?.delete(`${namespace}/${name}`);
    deps.sourceWatch?.watch(`${namespace}/${name}`, undefined);
    return {};
  }
  if (cluster.metadata?.deletionTimestamp !== undefined) return {};
  const log = deps.log.child({ key: `${namespace}/${name}` });
  const ctx = new ReconcileContext(cluster, deps, log);
  try {
    for (const step of steps) {
      ctx.log = log.child({ step: step.name });
      const result = await step.run(ctx);
      if (result.kind === "requeue") return { requeueAfterMs: result.afterMs };
      if (result.kind === "done") return {};
    }
  } catch (error) {
    // Not a failure: the spec changed under the pass (kube/cluster-api.ts, patchStatus). The next pass,
    // from the new spec, starts now — a promotion requested meanwhile waits for no backoff.
    if (!(error instanceof SpecChangedError)) throw error;
    ctx.log.info(error.message + ": starting again from the new spec");
    return { requeueAfterMs: 0 };
  } finally {
    await ctx.redis.closeAll();
  }
  const soon = ctx.engineRequeueMs;
  return { requeueAfterMs: soon === undefined ? deps.resyncMs : Math.min(soon, deps.resyncMs) };
}
