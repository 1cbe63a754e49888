/**
 * Making the designated leader a primary without losing anything another pod holds (catch-up first), and
 * keeping it one with the other pods following it.
 */
import type { InstanceSnapshot } from "../redis/admin-port.ts";
import type { CatchUp, CatchUpReview } from "./decisions/catch-up.ts";
import {
  catchUpReason,
  decideCatchUp,
  isCaughtUp,
  othersFollowDonor,
  reviewCatchUp,
} from "./decisions/catch-up.ts";
import { leaderBlockedCondition } from "../model/conditions.ts";
import type { ObservedPod, Upstream } from "../model/pods.ts";
import { LEADER_ORDINAL, followsUpstream, isPrimary } from "../model/pods.ts";
import type { EventType, ReplicationContext } from "./context.ts";
import { podEndpoint } from "./observe.ts";
import { raiseCondition, settleCondition } from "./raised-conditions.ts";
import { DONOR_MIN_REPLICAS_TO_WRITE, attach, makePrimary } from "./pod-actions.ts";
import { pollUntil } from "./wait.ts";

export interface SplitPods {
  readonly leader: ObservedPod | undefined;
  readonly others: readonly ObservedPod[];
}

export function splitPods(pods: readonly ObservedPod[]): SplitPods {
  return {
    leader: pods.find((p) => p.ordinal === LEADER_ORDINAL),
    others: pods.filter((p) => p.ordinal !== LEADER_ORDINAL),
  };
}

export const upstreamOf = (pod: { host: string; port: number }): Upstream => ({
  host: pod.host,
  port: pod.port,
});

/**
 * The leader copies from the donor. A replica whose own link is down refuses to serve SYNC, so the donor is
 * first made a primary — one that refuses writes (min-replicas-to-write it can never meet). With
 * `othersFollow` the other pods follow the donor too: afterwards they all share the donor's replication ID,
 * which the leader keeps as replid2 once promoted, so their re-attachment is a partial resync — also when the
 * leader itself needed a full copy (a leader restarted onto a history of its own).
 * Returns whether the leader has caught up within the wait.
 */
export async function catchUpLeader(
  ctx: ReplicationContext,
  leader: ObservedPod,
  others: readonly ObservedPod[],
  donor: ObservedPod,
  othersFollow: boolean,
): Promise<boolean> {
  if (!isPrimary(donor.snapshot)) await makePrimary(ctx, donor, DONOR_MIN_REPLICAS_TO_WRITE);
  const donorUpstream = upstreamOf(donor);
  const followers = othersFollow ? [leader, ...others.filter((p) => p.name !== donor.name)] : [leader];
  for (const pod of followers) {
    if (pod.snapshot !== undefined) await attach(ctx, pod, donorUpstream, ctx.clusterPassword);
  }
  const donorInfo = await ctx.redis.get(podEndpoint(ctx, donor)).replication();
  return pollUntil(async () => {
    for (const pod of followers) {
      if (pod.snapshot === undefined) continue;
      const info = await ctx.redis.get(podEndpoint(ctx, pod)).replication();
      if (pod === leader && !isCaughtUp(info, donorInfo.masterReplOffset)) return false;
      // Each follower must have adopted the donor's replication ID, which the leader keeps as replid2 once
      // promoted; a pod left on the older ID would need a full resync.
      if (info.masterReplid !== donorInfo.masterReplid) return false;
    }
    return true;
  }, ctx.waitTimeoutMs);
}

/** The pod the leader is copying from, when a catch-up was started (and perhaps interrupted) earlier. */
export function currentDonor(leader: ObservedPod, others: readonly ObservedPod[]): ObservedPod | undefined {
  const master = leader.snapshot?.replication.master;
  if (master === undefined) return undefined;
  return others.find((p) => p.host === master.host && p.port === master.port && p.snapshot !== undefined);
}

/**
 * Every pod but the leader replicates from the leader with the cluster's own password. Returns the pods that
 * could be asked but are not linked within the wait (empty when all are); pods that are down now are
 * attached when they come back.
 */
export async function attachFollowers(
  ctx: ReplicationContext,
  leader: ObservedPod,
  others: readonly ObservedPod[],
): Promise<readonly string[]> {
  const leaderUpstream = upstreamOf(leader);
  const answering = others.filter((p) => p.snapshot !== undefined);
  // Each pod on its own connection: they re-attach side by side, not one after the other.
  await Promise.all(answering.map((pod) => attach(ctx, pod, leaderUpstream, ctx.clusterPassword)));
  let unlinked = answering;
  await pollUntil(async () => {
    const linked = await Promise.all(
      unlinked.map(async (pod) => {
        const { master } = await ctx.redis.get(podEndpoint(ctx, pod)).replication();
        return (
          master !== undefined &&
          master.host === leaderUpstream.host &&
          master.port === leaderUpstream.port &&
          master.linkStatus === "up" &&
          !master.syncInProgress
        );
      }),
    );
    unlinked = unlinked.filter((_, i) => !linked[i]);
    return unlinked.length === 0;
  }, ctx.waitTimeoutMs);
  return unlinked.map((p) => p.name);
}

export type LeaderState = "primary" | "catching-up" | "unreachable" | "blocked";

/**
 * decideCatchUp, then the guard of reviewCatchUp (pods that cannot be asked, a donor behind what the leader
 * last reached), with what status recorded and what a human confirmed.
 */
export function reviewLeader(
  ctx: ReplicationContext,
  target: ObservedPod & { snapshot: InstanceSnapshot },
  others: readonly ObservedPod[],
): CatchUpReview {
  return reviewCatchUp(target.name, target.snapshot, others, decideCatchUp(target.snapshot, others), {
    cluster: ctx.cluster,
    instances: ctx.instances,
    lastKnown: ctx.status().lastKnownOffsets,
    confirmation: ctx.confirmLeader,
  });
}

/** The leader waits for a pod or a human: condition LeaderBlocked (see raised-conditions.ts). */
export const reportLeaderBlocked = (
  ctx: ReplicationContext,
  review: Extract<CatchUpReview, { kind: "blocked" }>,
): Promise<void> => raiseCondition(ctx, leaderBlockedCondition(review.reason, review.message));

/** The wait is over (the pods answered, or a human decided): LeaderBlocked goes False. */
export const clearLeaderBlocked = (ctx: ReplicationContext): Promise<void> =>
  settleCondition(ctx, leaderBlockedCondition(undefined, ""), "LeaderUnblocked");

/**
 * Makes the leader a writable primary unless another pod holds writes it lacks (then it catches up first):
 * a leader that restarted on an empty volume is never made a primary the others would copy.
 */
export async function ensureLeaderPrimary(
  ctx: ReplicationContext,
  pods: readonly ObservedPod[],
): Promise<LeaderState> {
  const { leader, others } = splitPods(pods);
  if (leader === undefined) return "unreachable";
  return ensurePrimary(ctx, leader, others);
}

/** ensureLeaderPrimary for any pod (Sentinel mode restores the primary Sentinel names, whatever its ordinal). */
export async function ensurePrimary(
  ctx: ReplicationContext,
  target: ObservedPod,
  others: readonly ObservedPod[],
): Promise<LeaderState> {
  if (target.snapshot === undefined) return "unreachable";
  if (isPrimary(target.snapshot)) {
    await makePrimary(ctx, target, ctx.minSyncReplicas);
    return "primary";
  }
  const review = reviewLeader(ctx, { ...target, snapshot: target.snapshot }, others);
  if (review.kind === "blocked") {
    await reportLeaderBlocked(ctx, review);
    return "blocked";
  }
  await clearLeaderBlocked(ctx);
  const decision = review.decision;
  if (decision.kind === "catch-up") {
    const leaderKeys = target.snapshot.keyCount;
    await announceCatchUp(ctx, target.name, target.snapshot, decision, (why) => {
      const donor = decision.donor.name;
      return [
        "Warning",
        "LeaderCatchingUp",
        decision.reason === "own-history" && leaderKeys > 0
          ? `${target.name} is not a primary and must copy from ${donor} first: ${why}`
          : `${target.name} is not a primary and ${donor} holds data it lacks (${why}); copying from ${donor} first`,
      ];
    });
    await catchUpLeader(ctx, target, others, decision.donor, othersFollowDonor(decision));
    return "catching-up";
  }
  // An interrupted catch-up (the leader has the donor's data, the others may not follow the donor yet):
  // finished first, so that they share the history the leader continues and re-attach without a full resync.
  const donor = currentDonor(target, others);
  if (donor !== undefined && isPrimary(donor.snapshot)) {
    if (!(await catchUpLeader(ctx, target, others, donor, true))) return "catching-up";
  }
  await makePrimary(ctx, target, ctx.minSyncReplicas);
  return "primary";
}

/**
 * Says which pod the leader copies from and why — in the controller log, with the figures behind the
 * decision, and in the Event `event` builds from the reason — when the copy starts, not on every pass that
 * waits for it to finish (the leader then already follows the donor).
 */
export async function announceCatchUp(
  ctx: ReplicationContext,
  leaderName: string,
  leader: InstanceSnapshot,
  decision: CatchUp,
  event: (why: string) => [type: EventType, reason: string, message: string],
): Promise<void> {
  if (followsUpstream(leader, upstreamOf(decision.donor))) return;
  const donor = decision.donor.snapshot;
  const why = catchUpReason(leaderName, leader, decision);
  ctx.log.warn(
    {
      leader: leaderName,
      donor: decision.donor.name,
      reason: decision.reason,
      leaderOffset: leader.replication.masterReplOffset,
      leaderKeys: leader.keyCount,
      donorOffset: donor?.replication.masterReplOffset,
      donorKeys: donor?.keyCount,
    },
    `${leaderName} copies from ${decision.donor.name} before it may be a primary: ${why}`,
  );
  await ctx.event(...event(why));
}
