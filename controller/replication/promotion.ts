/**
 * Promotion of the designated leader, as a phase machine whose progress lives in status.promotion.phase:
 *
 *   CatchingUp   the pods stop following the source (held: no writes, data kept); if a pod is ahead of the
 *                leader on the same history, the leader copies the difference from it (partial resync); if
 *                the leader restarted onto a history of its own, it copies the furthest-ahead pod in full
 *   Promoting    REPLICAOF NO ONE on the leader, which refuses writes until its new replication ID (the
 *                demotion token) is recorded in status
 *   Reattaching  the other pods switch masterauth to the cluster's password and follow the leader
 *   Completed    the cluster is a standalone primary
 *
 * Every action is idempotent and every decision is made from what the pods say now, so a controller killed
 * anywhere resumes from the recorded phase and ends in the same place.
 */
import type { InstanceSnapshot } from "../redis/admin-port.ts";
import type { PromotionStatus, RedisClusterStatus } from "../../schemas/generated/rediscluster.ts";
import {
  catchUpReason,
  decideCatchUp,
  othersFollowDonor,
  promotedOffsetOf,
  sharesHistory,
} from "./decisions/catch-up.ts";
import type { SourceRef } from "../model/intent.ts";
import { promotedMessage } from "../model/conditions.ts";
import type { ObservedPod } from "../model/pods.ts";
import { followsUpstream, isHeld, isPrimary } from "../model/pods.ts";
import type { ReplicationContext } from "./context.ts";
import {
  announceCatchUp,
  attachFollowers,
  catchUpLeader,
  clearLeaderBlocked,
  currentDonor,
  ensureLeaderPrimary,
  reportLeaderBlocked,
  reviewLeader,
  splitPods,
  upstreamOf,
} from "./leader.ts";
import type { SourceObservation } from "./observe.ts";
import { observePods, observeSource } from "./observe.ts";
import type { StatusTransaction } from "../status/transaction.ts";
import { compose } from "../status/transaction.ts";
import { UNRECORDED_MIN_REPLICAS_TO_WRITE, hold, makePrimary } from "./pod-actions.ts";

export interface EngineResult {
  /** Come back after this long (a wait did not finish, or a pod could not be reached). */
  readonly requeueAfterMs?: number;
  /** Sentinel mode: the pod that is the primary now. */
  readonly primaryPod?: string;
  /**
   * Sentinel mode: every other pod that answered is linked to the primary, none still waiting for or copying
   * its first dataset — a replica Sentinel could elect without losing what the primary holds.
   */
  readonly replicasInSync?: boolean;
  /**
   * Sentinel mode: the primary as last known — the one settled on this pass, or the one the Sentinels (else
   * status) name while it cannot be asked.
   */
  readonly recordedPrimary?: string;
  /** Sentinel mode: replicas of recordedPrimary that hold its data, which Sentinel may elect. */
  readonly electableReplicas?: readonly ObservedPod[];
  /**
   * Sentinel mode: the pods that follow the primary, re-pointed on this pass or an earlier one. They appear in
   * its INFO, where Sentinel learns its replicas, only once connected (sentinel.ts, handOverToSentinels).
   */
  readonly followingReplicas?: readonly ObservedPod[];
}

const RETRY_MS = 2000;

const setPromotion =
  (fields: Partial<PromotionStatus>) =>
  (status: RedisClusterStatus): RedisClusterStatus => ({
    ...status,
    promotion: { ...status.promotion, ...fields },
  });

async function note(ctx: ReplicationContext, message: string): Promise<void> {
  if (ctx.status().promotion?.message !== message) await ctx.commit(setPromotion({ message }));
}

/**
 * The promotion cannot go on until something outside the controller changes: the message says what it waits
 * for. A Warning Event goes with it once per reason — when the recorded message changes to it, not on every
 * pass that finds the same wait.
 */
async function stalled(ctx: ReplicationContext, message: string): Promise<EngineResult> {
  if (ctx.status().promotion?.message !== message) {
    await ctx.event("Warning", "PromotionStalled", message);
    await ctx.commit(setPromotion({ message }));
  }
  return { requeueAfterMs: RETRY_MS };
}

const waitForLeader = (ctx: ReplicationContext, leader: ObservedPod | undefined): Promise<EngineResult> =>
  stalled(
    ctx,
    `Waiting for the designated leader ${ctx.cluster}-0: ${leader?.error ?? "it has no address yet"}`,
  );

export async function runPromotion(ctx: ReplicationContext, source: SourceRef): Promise<EngineResult> {
  const requested = ctx.status().promotion?.phase;
  // AwaitingHandoff: promoteBy changed to Break before the hand-off came; promote the usual way.
  let start =
    requested === undefined || requested === "AwaitingHandoff" ? beginPromotion(ctx, source) : undefined;
  /** The pods as asked beside the write of Promoting (catchingUp), which promoting() starts from. */
  let looked: Promise<ObservedPod[]> | undefined;
  // A few rounds per reconcile so an undisturbed promotion completes in one go.
  for (let round = 0; round < 6; round++) {
    const phase = start === undefined ? ctx.status().promotion?.phase : "CatchingUp";
    let result: "next" | EngineResult;
    switch (phase) {
      case "CatchingUp": {
        const done = await catchingUp(ctx, source, start);
        start = undefined;
        if (typeof done === "object" && "looked" in done) {
          looked = done.looked;
          result = "next";
        } else {
          result = done;
        }
        break;
      }
      case "Promoting":
        result = await promoting(ctx, source, looked);
        looked = undefined;
        break;
      case "Reattaching":
        result = await reattaching(ctx, source);
        break;
      case "Completed":
        return maintainPromoted(ctx);
      default:
        return { requeueAfterMs: RETRY_MS * 5 };
    }
    if (result !== "next") return result;
  }
  return { requeueAfterMs: 0 };
}

/**
 * A promotion requested and not recorded yet. Its PromotionRequested Event, then the status write of phase
 * CatchingUp, go out while the pods are held and asked; catchingUp awaits them before its next status
 * write. Holding the pods before the phase is recorded is safe: a crash in between leaves held pods and no
 * phase, and the next pass starts over (or, if the promotion was withdrawn, re-attaches them to the source).
 */
interface PendingStart {
  /**
   * The Event, then the record. Events go out before the status write that records the step, so a crash in
   * between repeats the Event on restart instead of losing it. Rejects when the record failed.
   */
  readonly recorded: Promise<void>;
}

function beginPromotion(ctx: ReplicationContext, source: SourceRef): PendingStart {
  const recorded = (async () => {
    await ctx.event(
      "Normal",
      "PromotionRequested",
      `Promotion of ${ctx.cluster}-0 requested: replication from ${source.clusterName} will be broken`,
    );
    await ctx.commit(
      setPromotion({
        phase: "CatchingUp",
        requestedAt: ctx.now().toISOString(),
        formerSource: source.clusterName,
        message: "Promotion requested",
      }),
    );
  })();
  // Awaited (and its failure thrown) by catchingUp; marked handled so a failure cannot go unobserved while
  // the pods are being asked.
  recorded.catch(() => undefined);
  return { recorded };
}

/** Promoting is recorded, and `looked` is the look at the pods taken beside that write. */
interface RecordedPromoting {
  readonly looked: Promise<ObservedPod[]>;
}

async function catchingUp(
  ctx: ReplicationContext,
  source: SourceRef,
  pending: PendingStart | undefined,
): Promise<"next" | EngineResult | RecordedPromoting> {
  let start = pending;
  /** After the pending start's record, one status write of `changes` (none when there are none). */
  const record = async (...changes: readonly (StatusTransaction | undefined)[]): Promise<void> => {
    if (start !== undefined) {
      await start.recorded;
      start = undefined;
    }
    const transactions = changes.filter((c): c is StatusTransaction => c !== undefined);
    if (transactions.length > 0) await ctx.commit(compose(...transactions));
  };
  let pods = await observePods(ctx);
  const sourceUpstream = upstreamOf(source);
  // Freeze: a pod that keeps following the source could get ahead of the leader after it is promoted.
  const following = pods.filter((p) => followsUpstream(p.snapshot, sourceUpstream));
  await Promise.all(following.map((pod) => hold(ctx, pod)));
  // The source is asked once the pods stopped, beside their second look.
  const sourceSeen =
    ctx.status().promotion?.lagAtPromotionBytes === undefined ? observeSourceWithin(ctx, source) : undefined;
  if (following.length > 0) pods = await observePods(ctx);

  const { leader, others } = splitPods(pods);
  if (leader?.snapshot === undefined) {
    await record();
    return waitForLeader(ctx, leader);
  }

  let window: StatusTransaction | undefined;
  if (sourceSeen !== undefined) {
    // Measured on the history the leader continues: the donor's when the leader restarted onto its own.
    const raw = decideCatchUp(leader.snapshot, others);
    const continued = raw.kind === "catch-up" ? raw.donor.snapshot : undefined;
    window = dataLossWindow(ctx, await sourceSeen, continued ?? leader.snapshot, pods);
  }
  const review = reviewLeader(ctx, { ...leader, snapshot: leader.snapshot }, others);
  if (
    review.kind !== "blocked" &&
    review.decision.kind !== "catch-up" &&
    currentDonor(leader, others) === undefined
  ) {
    // The leader has every write any reachable pod has: nothing to wait for. promoting() looks at the pods
    // once more before REPLICAOF NO ONE; that look is taken beside the write of Promoting, not after it.
    // Safe: it is a read, and nothing is sent to a pod before the write succeeded (a failed write throws
    // here), so Promoting and the data-loss window are still recorded before the leader becomes a primary,
    // and the demotion token before it takes writes (issue 15). The pods cannot move meanwhile but by
    // restarting — they are held, and only this reconcile re-points them — and a leader that restarts after
    // the look fails makePrimary's commands on the connection the look used, which is never re-made within
    // a reconcile (AdminPool, replication/context.ts), instead of being promoted unobserved.
    const looked = observePods(ctx);
    try {
      await clearLeaderBlocked(ctx);
      await record(window, promotingNow(leader.name));
    } catch (error) {
      await looked.catch(() => undefined);
      throw error;
    }
    return { looked };
  }
  await record(window);
  if (review.kind === "blocked") {
    await reportLeaderBlocked(ctx, review);
    await note(ctx, review.message);
    return { requeueAfterMs: RETRY_MS };
  }
  await clearLeaderBlocked(ctx);
  const decision = review.decision;
  let donor: ObservedPod | undefined;
  let othersFollow = true;
  if (decision.kind === "catch-up") {
    donor = decision.donor;
    othersFollow = othersFollowDonor(decision);
    await announceCatchUp(ctx, leader.name, leader.snapshot, decision, (why) =>
      decision.reason === "behind"
        ? [
            "Normal",
            "PromotionCatchingUp",
            `${decision.donor.name} is ${decision.bytesAhead} bytes ahead of ${leader.name}: catching up before promotion`,
          ]
        : // The leader's own dataset is replaced: a Warning, with what each side holds.
          [
            "Warning",
            "PromotionCatchingUp",
            `${leader.name} copies ${decision.donor.name}'s dataset in full before promotion: ${why}`,
          ],
    );
    await note(
      ctx,
      decision.reason === "behind"
        ? `${donor.name} is ${decision.bytesAhead} bytes ahead of ${leader.name}; the leader catches up from it`
        : `${leader.name} copies ${donor.name}'s dataset in full: ${catchUpReason(leader.name, leader.snapshot, decision)}`,
    );
  } else {
    // An interrupted catch-up: the leader has what the donor has, but the other pods may not follow it yet.
    donor = currentDonor(leader, others);
  }
  if (donor !== undefined && !(await catchUpLeader(ctx, leader, others, donor, othersFollow))) {
    return { requeueAfterMs: RETRY_MS };
  }
  await ctx.commit(promotingNow(leader.name));
  return "next";
}

const promotingNow = (leader: string): StatusTransaction =>
  setPromotion({ phase: "Promoting", message: `${leader} has every write any reachable pod has` });

/**
 * How long a promotion waits for the source to answer before it measures the data-loss window against the
 * last offset seen (a lower bound). In a drill the source answers in a few round trips; in a regional outage
 * its address usually drops packets, and the connect timeout (2 s) would otherwise keep the promoted leader
 * from taking writes that much longer.
 */
export const SOURCE_ANSWER_WAIT_MS = 500;

async function observeSourceWithin(ctx: ReplicationContext, source: SourceRef): Promise<SourceObservation> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<SourceObservation>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          failure: { kind: "unreachable", message: `no answer within ${SOURCE_ANSWER_WAIT_MS} ms` },
        }),
      SOURCE_ANSWER_WAIT_MS,
    );
  });
  try {
    return await Promise.race([observeSource(ctx, source), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The data-loss window: what the source had that no pod has. The source's live offset when it answered
 * (a drill), else the last offset the controller saw from it; compared with the newest pod on the
 * history the promoted leader continues (`continued`: the leader's, or its donor's).
 */
function dataLossWindow(
  ctx: ReplicationContext,
  live: SourceObservation,
  continued: InstanceSnapshot,
  pods: readonly ObservedPod[],
): StatusTransaction | undefined {
  const sourceOffset = live.offset ?? ctx.status().replication?.sourceOffset;
  if (sourceOffset === undefined) return undefined;
  // Unreachable now: measured against the last offset seen, so at least that much is lost — more if the
  // source took writes after it was last seen.
  const lowerBound = live.offset === undefined;
  const lastSeen = ctx.status().replication?.sourceLastSeen;
  let newest = continued.replication.masterReplOffset;
  for (const pod of pods) {
    if (pod.snapshot !== undefined && sharesHistory(continued, pod.snapshot)) {
      newest = Math.max(newest, pod.snapshot.replication.masterReplOffset);
    }
  }
  // Offsets do not count the initial snapshot: a cluster promoted before any pod finished its first copy
  // lost the whole dataset, whatever the offsets say. Its size is the source's dataset when it can be asked.
  const podsHoldNothing = pods.every((p) => p.snapshot === undefined || p.snapshot.keyCount === 0);
  const initialSyncIncomplete =
    podsHoldNothing &&
    (live.snapshot !== undefined
      ? live.snapshot.keyCount > 0
      : ctx.status().replication?.lastSyncTime === undefined);
  const snapshotBytes = initialSyncIncomplete ? (live.snapshot?.datasetBytes ?? 0) : 0;
  return setPromotion({
    ...(initialSyncIncomplete ? { initialSyncIncomplete: true } : {}),
    lagAtPromotionBytes: Math.max(0, sourceOffset - newest) + snapshotBytes,
    ...(lowerBound
      ? { lagAtPromotionIsLowerBound: true, ...(lastSeen ? { sourceLastSeen: lastSeen } : {}) }
      : {}),
  });
}

/** The data-loss window as the LeaderPromoted Event says it: exact, a lower bound, or unknown. */
function dataLossWindowText(
  promotion:
    | {
        lagAtPromotionBytes?: number;
        lagAtPromotionIsLowerBound?: boolean;
        sourceLastSeen?: string;
        initialSyncIncomplete?: boolean;
      }
    | undefined,
  source: string,
): string {
  const lag = promotion?.lagAtPromotionBytes;
  if (lag === undefined) return `an unknown number of bytes behind ${source} when replication was broken`;
  if (promotion?.initialSyncIncomplete === true) {
    return (
      `${lag} bytes behind ${source} when replication was broken: no pod had finished its initial copy of ` +
      `${source}, so everything ${source} held is lost on this side` +
      (promotion.lagAtPromotionIsLowerBound === true
        ? ` (${source} could not be asked: its dataset's size is not counted)`
        : ` (its dataset, ${lag} bytes with the stream)`)
    );
  }
  if (promotion?.lagAtPromotionIsLowerBound !== true)
    return `${lag} bytes behind ${source} when replication was broken`;
  const seen = promotion.sourceLastSeen ?? "an unknown time";
  return (
    `at least ${lag} bytes behind ${source} when replication was broken (${source} could not be asked; ` +
    `it was last seen at ${seen}, and writes it took after that are lost too)`
  );
}

async function promoting(
  ctx: ReplicationContext,
  source: SourceRef,
  /** The look at the pods taken beside the write of this phase, when this pass recorded it. */
  looked: Promise<ObservedPod[]> | undefined,
): Promise<"next" | EngineResult> {
  let pods = await (looked ?? observePods(ctx));
  let { leader, others } = splitPods(pods);
  if (leader?.snapshot === undefined) return waitForLeader(ctx, leader);
  if (!isPrimary(leader.snapshot)) {
    // Freeze the donor and its followers too, then check once more that nobody got ahead meanwhile.
    const leaderUpstream = upstreamOf(leader);
    const moving = others.filter(
      (p) => p.snapshot !== undefined && !isHeld(p.snapshot) && !followsUpstream(p.snapshot, leaderUpstream),
    );
    for (const pod of moving) await hold(ctx, pod);
    if (moving.length > 0) {
      pods = await observePods(ctx);
      ({ leader, others } = splitPods(pods));
      if (leader?.snapshot === undefined) return { requeueAfterMs: RETRY_MS };
    }
    const review = reviewLeader(ctx, { ...leader, snapshot: leader.snapshot }, others);
    if (review.kind === "blocked" || review.decision.kind === "catch-up") {
      const message =
        review.kind === "blocked" ? review.message : "A pod got ahead of the leader; catching up again";
      await ctx.commit(setPromotion({ phase: "CatchingUp", message }));
      return "next";
    }
    // A primary that refuses writes until its new history is recorded (see below).
    await makePrimary(ctx, leader, UNRECORDED_MIN_REPLICAS_TO_WRITE);
    const [promoted] = await observePods({ ...ctx, pods: [leader] });
    if (promoted?.snapshot === undefined) return { requeueAfterMs: RETRY_MS };
    leader = promoted;
  } else {
    // Made a primary by an earlier pass that could not record its history: still refusing writes.
    await makePrimary(ctx, leader, UNRECORDED_MIN_REPLICAS_TO_WRITE);
  }
  const snapshot = leader.snapshot;
  if (snapshot === undefined) return { requeueAfterMs: RETRY_MS };
  const replicationId = snapshot.replication.masterReplid;
  const promotedOffset = promotedOffsetOf(snapshot);
  // The ID is the demotion token: a write accepted before it is in status could be discarded by a revert
  // admitted without a token. Until this commit succeeds (the API server may be unreachable for the whole
  // outage) the leader answers writes with NOREPLICAS; then it takes them.
  await ctx.commit(
    setPromotion({
      phase: "Reattaching",
      replicationId,
      promotedOffset,
      message: `${leader.name} accepts writes; the other pods re-attach to it`,
    }),
  );
  await makePrimary(ctx, leader, ctx.minSyncReplicas);
  // Said once the leader takes writes, not before: the applications waiting for it come first. (A controller
  // that dies between the record and this Event loses it; status holds the same figures.)
  await ctx.event(
    "Normal",
    "LeaderPromoted",
    `${leader.name} is a primary at offset ${promotedOffset} (replication ID ${replicationId}, recorded in ` +
      `status) and accepts writes; it was ` +
      dataLossWindowText(ctx.status().promotion, source.clusterName),
  );
  return "next";
}

async function reattaching(ctx: ReplicationContext, source: SourceRef): Promise<"next" | EngineResult> {
  const pods = await observePods(ctx);
  const state = await ensureLeaderPrimary(ctx, pods);
  const { leader, others } = splitPods(pods);
  if (state === "unreachable") return waitForLeader(ctx, leader);
  if (state !== "primary" || leader === undefined) return { requeueAfterMs: RETRY_MS };
  const unlinked = await attachFollowers(ctx, leader, others);
  if (unlinked.length > 0) {
    return stalled(
      ctx,
      `Waiting for ${unlinked.join(", ")} to follow ${leader.name}: not linked to it yet, or still copying its dataset`,
    );
  }
  await followBacklogSwitch(ctx, leader);
  const formerSource = ctx.status().promotion?.formerSource ?? source.clusterName;
  await ctx.event(
    "Normal",
    "PromotionCompleted",
    `${promotedMessage(formerSource)}: ${leader.name} is the primary`,
  );
  // currentPrimary with it: the report that follows may not reach the leader (a connection broken by a
  // partition that just healed), and keeps what status says then.
  await ctx.commit((s) => ({
    ...setPromotion({
      phase: "Completed",
      completedAt: ctx.now().toISOString(),
      message: `${promotedMessage(formerSource)}; ${others.length} pods follow ${leader.name}`,
    })(s),
    currentPrimary: leader.name,
  }));
  return "next";
}

/**
 * A leader promoted before it ever completed a sync has no replication backlog, and Redis starts yet another
 * replication ID (clearing replid2) when it creates one for its first replica: the recorded ID would then name
 * a history no pod is on. The record follows it (the ID is still the demotion token, said in an Event), so a
 * demotion can measure what it discards.
 */
async function followBacklogSwitch(ctx: ReplicationContext, leader: ObservedPod): Promise<void> {
  const recorded = ctx.status().promotion?.replicationId;
  const [now] = await observePods({ ...ctx, pods: [leader] });
  const replication = now?.snapshot?.replication;
  if (recorded === undefined || replication === undefined) return;
  if (replication.masterReplid === recorded || replication.masterReplid2 === recorded) return;
  const replicationId = replication.masterReplid;
  await ctx.event(
    "Normal",
    "PromotionTokenChanged",
    `${leader.name} had no replication backlog when promoted, and Redis started a new replication ID when ` +
      `it created one for its first replica: the demotion token is now ${replicationId} (was ${recorded})`,
  );
  await ctx.commit(setPromotion({ replicationId }));
}

/** After promotion (and in standalone mode): the leader stays primary, the others follow it. */
export async function maintainPromoted(ctx: ReplicationContext): Promise<EngineResult> {
  const pods = await observePods(ctx);
  const state = await ensureLeaderPrimary(ctx, pods);
  const { leader, others } = splitPods(pods);
  if (state !== "primary" || leader === undefined) return { requeueAfterMs: RETRY_MS };
  const unlinked = await attachFollowers(ctx, leader, others);
  return unlinked.length === 0 ? {} : { requeueAfterMs: RETRY_MS };
}
