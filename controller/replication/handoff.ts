/**
 * The planned switchover in the controller (docs/switchover.md §2), both sides:
 * - the DR cluster (`promoteBy: Handoff`): its leader keeps replicating and announces the hand-off address
 *   (announceHandoffAddress); once Redis shows that the source handed the primary role over, the promotion is
 *   recorded with `via: Handoff` (recogniseHandoff) and the ordinary promotion re-attaches the other pods;
 * - the old primary's cluster (`joinBy: Handoff`): it stays a primary until the target is listed at its
 *   address, then runs the switchover driver once per handoffAttempt (runJoinByHandoff) and records
 *   status.switchover, condition Switchover and Events. It never points its pods at the source while its
 *   leader is the primary: that would be a full copy discarding what the source lacks.
 */
import type { RedisClusterStatus } from "../../schemas/generated/rediscluster.ts";
import { switchoverCondition } from "../model/conditions.ts";
import type { JoinByHandoff, SourceRef } from "../model/intent.ts";
import { endpointText } from "../model/intent.ts";
import type { ObservedPod } from "../model/pods.ts";
import { HOLD_UPSTREAM } from "../model/pods.ts";
import { findCondition, setCondition } from "../status/conditions.ts";
import type { ReplicationContext } from "./context.ts";
import { becamePrimaryByHandoff, decideJoin, type HandoffTarget } from "./decisions/switchover.ts";
import { splitPods } from "./leader.ts";
import { observePods, podEndpoint, sourceEndpoint } from "./observe.ts";
import { ensureConfig } from "./pod-actions.ts";
import type { EngineResult } from "./promotion.ts";
import { maintainPromoted } from "./promotion.ts";
import { prepareHandoffTarget, switchover } from "./switchover.ts";

const RETRY_MS = 2000;
/** The pause starts this long before the target's next acknowledgement (docs/switchover.md §1). */
const ACK_MARGIN_MS = 50;

/**
 * The DR leader awaiting a hand-off: announced at `address` (reconnected once, a partial resync), and status
 * says what it waits for (promotion.phase AwaitingHandoff), with an Event when that starts.
 */
export async function announceHandoffAddress(
  ctx: ReplicationContext,
  leader: ObservedPod,
  source: SourceRef,
  address: HandoffTarget,
): Promise<void> {
  await prepareHandoffTarget(ctx.redis.get(podEndpoint(ctx, leader)), address, ctx.waitTimeoutMs);
  const message =
    `waiting for ${source.clusterName} to hand over; the leader is listed to it as ` +
    `${address.host}:${address.port}`;
  const promotion = ctx.status().promotion;
  if (promotion?.phase === "AwaitingHandoff" && promotion.message === message) return;
  await ctx.event("Normal", "HandoffAwaited", `${leader.name} accepts a hand-off: ${message}`);
  await ctx.commit((s) => ({
    ...s,
    promotion: {
      phase: "AwaitingHandoff",
      requestedAt: s.promotion?.requestedAt ?? ctx.now().toISOString(),
      formerSource: source.clusterName,
      message,
    },
  }));
}

/**
 * A DR leader that became a primary by the source's hand-off (its previous history is the source's, as last
 * recorded) while no promotion of ours is under way: the promotion is recorded — with nothing lost — so that
 * the pods re-attach to it and a demotion needs the token, whatever the spec says meanwhile. Returns whether
 * it recorded one.
 */
export async function recogniseHandoff(ctx: ReplicationContext, source: SourceRef): Promise<boolean> {
  const phase = ctx.status().promotion?.phase;
  if (phase !== undefined && phase !== "AwaitingHandoff") return false;
  const sourceReplicationId = ctx.status().replication?.sourceReplicationId ?? "";
  const { leader } = splitPods(await observePods({ ...ctx, pods: ctx.pods.filter((p) => p.ordinal === 0) }));
  const replication = leader?.snapshot?.replication;
  if (leader === undefined || replication === undefined) return false;
  if (!becamePrimaryByHandoff(replication, sourceReplicationId)) return false;
  const replicationId = replication.masterReplid;
  // second_repl_offset is the first offset of the new history: the leader stood one byte before it.
  const promotedOffset = Math.max(0, replication.secondReplOffset - 1);
  await ctx.event(
    "Normal",
    "LeaderPromoted",
    `${leader.name} was handed the primary role by ${source.clusterName} at offset ${promotedOffset} ` +
      `(replication ID ${replicationId}); nothing was lost`,
  );
  await ctx.commit((s) => ({
    ...s,
    promotion: {
      ...s.promotion,
      phase: "Reattaching",
      via: "Handoff",
      requestedAt: s.promotion?.requestedAt ?? ctx.now().toISOString(),
      formerSource: source.clusterName,
      replicationId,
      promotedOffset,
      lagAtPromotionBytes: 0,
      message: `${leader.name} was handed the primary role; the other pods re-attach to it`,
    },
  }));
  return true;
}

type SwitchoverStep = Parameters<typeof switchoverCondition>[0];
type SwitchoverStatus = NonNullable<RedisClusterStatus["switchover"]>;

/** status.switchover and condition Switchover together, written only when they change. */
async function recordSwitchover(
  ctx: ReplicationContext,
  switchoverStatus: SwitchoverStatus,
  step: SwitchoverStep,
): Promise<void> {
  const message = switchoverStatus.message ?? "";
  const current = ctx.status();
  const condition = findCondition(current.conditions, "Switchover");
  if (
    current.switchover?.phase === switchoverStatus.phase &&
    current.switchover?.attempt === switchoverStatus.attempt &&
    current.switchover?.message === message &&
    condition?.reason === step
  ) {
    return;
  }
  await ctx.commit((s): RedisClusterStatus => ({
    ...s,
    switchover: switchoverStatus,
    conditions: setCondition(s.conditions, switchoverCondition(step, message), undefined, ctx.now()),
  }));
}

/**
 * The old primary's side of `joinBy: Handoff`. "follow": the leader follows the source (handed over):
 * replica mode as usual re-points the other pods, which share the history (partial resyncs).
 */
export async function runJoinByHandoff(
  ctx: ReplicationContext,
  source: SourceRef,
  join: JoinByHandoff,
): Promise<EngineResult | "follow"> {
  const pods = await observePods(ctx);
  const { leader } = splitPods(pods);
  if (leader?.snapshot === undefined) return { requeueAfterMs: RETRY_MS };
  const recorded = ctx.status().switchover;
  // Handed over for this attempt: the leader follows the source from now on, whatever it says after a restart.
  if (recorded?.phase === "Completed" && recorded.attempt === join.attempt) return "follow";
  const admin = ctx.redis.get(podEndpoint(ctx, leader));
  const target: HandoffTarget = { host: source.host, port: source.port };
  const master = leader.snapshot.replication.master;
  const followsOwnCluster =
    master !== undefined &&
    [HOLD_UPSTREAM, ...pods].some((p) => p.host === master.host && p.port === master.port);
  const step = decideJoin(
    leader.snapshot.replication,
    await admin.failoverState(),
    target,
    join.attempt,
    recorded,
    followsOwnCluster,
  );
  const attempt = join.attempt;
  switch (step.kind) {
    case "follow":
      if (recorded?.phase !== "Completed") {
        await recordSwitchover(
          ctx,
          { phase: "Completed", attempt, message: `${leader.name} follows ${source.clusterName}` },
          "Completed",
        );
      }
      return "follow";
    case "done":
      if (step.interrupted) {
        const message =
          `attempt ${attempt} was interrupted (the controller stopped while handing over); ${leader.name} is ` +
          "still the primary: change spec.replicaMode.handoffAttempt to try again";
        await ctx.event("Warning", "SwitchoverFailed", message);
        await recordSwitchover(ctx, { phase: "Failed", attempt, message }, "Interrupted");
      }
      return maintainPromoted(ctx);
    case "wait": {
      const message = `waiting for ${source.clusterName} (${endpointText(source)}): ${step.reason}`;
      await recordSwitchover(ctx, { phase: "WaitingForTarget", attempt, message }, "WaitingForTarget");
      const result = await maintainPromoted(ctx);
      return { ...result, requeueAfterMs: Math.min(result.requeueAfterMs ?? RETRY_MS, RETRY_MS) };
    }
    case "hand-over":
      break;
  }
  // The old primary logs in to the target the moment it hands over: the source's user and password first.
  await ensureConfig(admin, "masteruser", ctx.sourceUsername ?? "");
  await ensureConfig(admin, "masterauth", ctx.sourcePassword ?? "");
  const startMessage =
    `${leader.name} hands the primary role over to ${source.clusterName} (${endpointText(source)}); ` +
    `writes pause up to ${join.timeoutMs / 1000}s`;
  await ctx.event("Normal", "SwitchoverStarted", startMessage);
  // Recorded before FAILOVER: a controller that dies meanwhile does not try this attempt again.
  await recordSwitchover(ctx, { phase: "HandingOver", attempt, message: startMessage }, "HandingOver");
  const outcome = await switchover({
    primary: admin,
    target,
    timeoutMs: join.timeoutMs,
    targetAdmin: ctx.redis.get(sourceEndpoint(ctx, source)),
    ackMarginMs: ACK_MARGIN_MS,
  });
  ctx.log.info({ outcome: outcome.kind, attempt }, "switchover finished");
  if (outcome.kind === "handed-over") {
    const pausedMs = Math.round(outcome.pausedMs);
    const message =
      `${leader.name} handed the primary role over to ${source.clusterName} and follows it; writes were ` +
      `held ${pausedMs} ms` +
      (outcome.repaired ? " (the hand-off was lost on the wire and repaired)" : "");
    await ctx.event("Normal", "SwitchoverCompleted", message);
    await recordSwitchover(
      ctx,
      {
        phase: "Completed",
        attempt,
        newPrimaryReplicationId: outcome.newPrimary.replicationId,
        offset: outcome.newPrimary.offset,
        pausedMs,
        completedAt: ctx.now().toISOString(),
        message,
      },
      "Completed",
    );
    return "follow";
  }
  const message =
    `${outcome.reason}: ${leader.name} is still the primary; change spec.replicaMode.handoffAttempt to ` +
    "try again";
  await ctx.event("Warning", "SwitchoverFailed", message);
  await recordSwitchover(
    ctx,
    {
      phase: "Failed",
      attempt,
      message,
      ...(outcome.kind === "aborted" ? { pausedMs: Math.round(outcome.pausedMs) } : {}),
    },
    outcome.kind === "aborted" ? "TimedOut" : "Refused",
  );
  return maintainPromoted(ctx);
}

/**
 * A promoted cluster demoted by hand-off (joinBy: Handoff with the demotion token): its leader now follows the
 * source on the history it started, so nothing is discarded. The promotion is cleared and recorded in
 * lastDemotion; replica mode then re-points the pods and marks the demotion complete.
 */
export async function recordHandedOverDemotion(
  ctx: ReplicationContext,
  source: SourceRef,
  replicationId: string,
): Promise<void> {
  await ctx.event(
    "Normal",
    "Demoted",
    `Promotion ${replicationId} handed over to ${source.clusterName}: nothing is discarded; the pods follow ` +
      `${source.clusterName} on the same history`,
  );
  await ctx.commit((s) => ({
    ...s,
    promotion: undefined,
    lastDemotion: { replicationId, discardedBytes: 0 },
  }));
}
