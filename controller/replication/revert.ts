/**
 * A promotion reverted (the spec replicates again) discards whatever the leader took as a primary: the pods
 * resynchronise from the source in full. A confirmed demotion (demotion.ts) knows the promoted history from
 * status.promotion.replicationId. A promotion reverted before that ID was recorded needs no token: the
 * leader refuses writes until the ID is recorded, so it took none. A leader made a primary by an older
 * controller (which lifted the refusal at REPLICAOF NO ONE) may have accepted writes: which case it is, the
 * leader says.
 */
import type { DemotionStatus, PromotionStatus } from "../../schemas/generated/rediscluster.ts";
import type { InstanceSnapshot } from "../redis/admin-port.ts";
import { promotedOffsetOf, sharesHistory } from "./decisions/catch-up.ts";
import type { SourceRef } from "../model/intent.ts";
import type { ObservedPod } from "../model/pods.ts";
import { isPrimary } from "../model/pods.ts";
import type { ReplicationContext } from "./context.ts";
import { splitPods } from "./leader.ts";
import { podEndpoint } from "./observe.ts";
import { UNRECORDED_MIN_REPLICAS_TO_WRITE } from "./pod-actions.ts";

export type UnrecordedPromotion =
  /** REPLICAOF NO ONE never ran: nothing to discard. */
  | { readonly kind: "abandoned" }
  /** The leader is a primary: it started `replicationId` at `promotedOffset` and took `discardedBytes` since. */
  | { readonly kind: "discarded"; readonly replicationId: string; readonly discardedBytes: number }
  /** The leader restarted while being made a primary: it may have taken writes, how many cannot be known. */
  | { readonly kind: "unknown" }
  /** The leader cannot be asked while it was being made a primary: decided when it answers. */
  | { readonly kind: "wait"; readonly error: string };

/**
 * What a promotion reverted before its replicationId was recorded discards. Only the `Promoting` phase runs
 * REPLICAOF NO ONE on the leader, but a leader found a primary in any phase would lose its writes as well.
 */
export function judgeUnrecordedPromotion(
  phase: PromotionStatus["phase"],
  leader: ObservedPod | undefined,
  others: readonly ObservedPod[],
): UnrecordedPromotion {
  const snapshot = leader?.snapshot;
  if (snapshot !== undefined && isPrimary(snapshot)) {
    return {
      kind: "discarded",
      replicationId: snapshot.replication.masterReplid,
      discardedBytes: Math.max(0, snapshot.replication.masterReplOffset - promotedOffsetOf(snapshot)),
    };
  }
  if (phase !== "Promoting") return { kind: "abandoned" };
  if (snapshot === undefined) return { kind: "wait", error: leader?.error ?? "it has no address yet" };
  return restartedOntoOwnHistory(snapshot, others) ? { kind: "unknown" } : { kind: "abandoned" };
}

/** Offset 0 on a history no other pod shares: the instance restarted and has not replicated since. */
function restartedOntoOwnHistory(snapshot: InstanceSnapshot, others: readonly ObservedPod[]): boolean {
  return (
    snapshot.replication.masterReplOffset === 0 &&
    !others.some((p) => p.snapshot !== undefined && sharesHistory(snapshot, p.snapshot))
  );
}

/** Says what a revert discards (Warning Event `Demoted`), then records it and clears the promotion. */
export async function discardPromotion(
  ctx: ReplicationContext,
  lastDemotion: DemotionStatus,
  message: string,
): Promise<void> {
  // The Event before the status write that records the step: at-least-once across crashes.
  await ctx.event("Warning", "Demoted", message);
  await ctx.commit((s) => ({ ...s, promotion: undefined, lastDemotion }));
}

/** The leader still refuses every write (UNRECORDED_MIN_REPLICAS_TO_WRITE): it took none as a primary. */
async function refusesWrites(ctx: ReplicationContext, leader: ObservedPod): Promise<boolean> {
  const value = await ctx.redis.get(podEndpoint(ctx, leader)).configGet("min-replicas-to-write");
  return value === String(UNRECORDED_MIN_REPLICAS_TO_WRITE);
}

/**
 * Settles a promotion reverted before its replicationId was recorded. Returns false while the leader must
 * first be asked (the record is kept; the other pods may replicate meanwhile).
 */
export async function settleUnrecordedPromotion(
  ctx: ReplicationContext,
  source: SourceRef,
  pods: readonly ObservedPod[],
): Promise<boolean> {
  const { leader, others } = splitPods(pods);
  const leaderName = `${ctx.cluster}-0`;
  let verdict = judgeUnrecordedPromotion(ctx.status().promotion?.phase, leader, others);
  if (verdict.kind === "discarded" && leader !== undefined && (await refusesWrites(ctx, leader))) {
    // Made a primary by this controller, which lifts the refusal only once the history is recorded.
    verdict = { kind: "abandoned" };
  }
  switch (verdict.kind) {
    case "abandoned":
      // The leader never accepted writes under a new history: nothing to discard, the pods just go back.
      await ctx.commit((s) => ({ ...s, promotion: undefined }));
      await ctx.event(
        "Normal",
        "PromotionAborted",
        `Promotion abandoned before ${leaderName} accepted writes; replicating from ${source.clusterName} again`,
      );
      return true;
    case "discarded":
      await discardPromotion(
        ctx,
        { replicationId: verdict.replicationId, discardedBytes: verdict.discardedBytes },
        `Promotion reverted before it was recorded, but ${leaderName} had already become a primary ` +
          `(replication ID ${verdict.replicationId}): ${verdict.discardedBytes} bytes written to it since are ` +
          `discarded; the pods resynchronise from ${source.clusterName}`,
      );
      return true;
    case "unknown":
      await discardPromotion(
        ctx,
        {},
        `Promotion reverted while ${leaderName} was being made a primary, and ${leaderName} restarted since: ` +
          `an unknown number of bytes it may have accepted are discarded; the pods resynchronise from ` +
          source.clusterName,
      );
      return true;
    case "wait": {
      const message =
        `Promotion reverted while ${leaderName} was being made a primary; ${leaderName} cannot be asked ` +
        `(${verdict.error}): kept on record until it answers, to tell whether it accepted writes`;
      if (ctx.status().promotion?.message !== message) {
        await ctx.commit((s) => ({ ...s, promotion: { ...s.promotion, message } }));
      }
      return false;
    }
  }
}
