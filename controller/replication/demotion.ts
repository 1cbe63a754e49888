/**
 * Demotion: a completed promotion reverted on purpose (the request carried the demotion token). Writes made
 * since the promotion are discarded — the pods full-resync from the source — so the controller first records
 * how many bytes that is, then clears the promotion and lets replica mode re-point the pods.
 */
import type { ReplicationContext } from "./context.ts";
import { promotedOffsetOf } from "./decisions/catch-up.ts";
import { splitPods } from "./leader.ts";
import { observePods } from "./observe.ts";
import type { EngineResult } from "./promotion.ts";
import { runReplicaMode } from "./replica-mode.ts";
import { discardPromotion } from "./revert.ts";
import type { SourceRef, Topology } from "../model/intent.ts";

export async function runDemotion(
  ctx: ReplicationContext,
  source: SourceRef,
  topology: Topology,
  replicationId: string,
): Promise<EngineResult> {
  const { leader } = splitPods(await observePods(ctx));
  const promotedOffset = ctx.status().promotion?.promotedOffset;
  const replication = leader?.snapshot?.replication;
  let discardedBytes: number | undefined;
  if (replication !== undefined && promotedOffset !== undefined) {
    // The leader's offset on the promoted history (also readable after it moved on once, via replid2).
    if (replication.masterReplid === replicationId)
      discardedBytes = replication.masterReplOffset - promotedOffset;
    else if (replication.masterReplid2 === replicationId)
      discardedBytes = replication.secondReplOffset - 1 - promotedOffset;
  }
  discardedBytes = discardedBytes === undefined ? undefined : Math.max(0, discardedBytes);
  // A leader restarted since the promotion began yet another history: only a lower bound is known then.
  const atLeast =
    discardedBytes === undefined && replication?.role === "master" && leader?.snapshot !== undefined
      ? Math.max(0, replication.masterReplOffset - promotedOffsetOf(leader.snapshot))
      : undefined;
  const amount =
    discardedBytes !== undefined
      ? `${discardedBytes} bytes`
      : `an unknown number of bytes${atLeast === undefined ? "" : ` (at least ${atLeast}: the leader restarted since the promotion)`}`;
  await discardPromotion(
    ctx,
    { replicationId, ...(discardedBytes === undefined ? {} : { discardedBytes }) },
    `Promotion ${replicationId} reverted on request: ${amount} written since the promotion are discarded; ` +
      `the pods resynchronise from ${source.clusterName}`,
  );
  return runReplicaMode(ctx, source, topology);
}
