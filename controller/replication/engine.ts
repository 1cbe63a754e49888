/**
 * The replication engine's entry point: one pass that moves the pods towards what the intent says.
 */
import type { SentinelProtection } from "../model/conditions.ts";
import { promotedMessage, sentinelProtectedCondition } from "../model/conditions.ts";
import { findCondition, setCondition } from "../status/conditions.ts";
import type { ReplicationContext } from "./context.ts";
import { runDemotion } from "./demotion.ts";
import type { EngineResult } from "./promotion.ts";
import { maintainPromoted, runPromotion } from "./promotion.ts";
import { runReplicaMode } from "./replica-mode.ts";
import { recogniseHandoff, recordHandedOverDemotion, runJoinByHandoff } from "./handoff.ts";
import {
  SENTINEL_TIMING,
  handOverToSentinels,
  releaseSentinels,
  runSentinelMode,
  sentinelQuorum,
} from "./sentinel.ts";
import { sentinelManaged } from "../model/intent.ts";

export type { EngineResult } from "./promotion.ts";

export async function reconcileReplication(ctx: ReplicationContext): Promise<EngineResult> {
  const intent = ctx.intent;
  if (ctx.sentinelMode && intent.kind !== "sentinel") {
    if (intent.kind === "promote" && sentinelManaged(intent, true, ctx.status().promotion?.phase)) {
      return underSentinel(ctx);
    }
    // Replicating, promoting or demoting: the controller drives the roles, Sentinel must not.
    if (!sentinelManaged(intent, true, ctx.status().promotion?.phase)) {
      await releaseSentinels(ctx);
      await reportProtection(ctx, { kind: "replica-cluster" });
    }
  }
  if ((intent.kind === "replicate" || intent.kind === "demote") && ctx.sourceAuthUnavailable === true) {
    return { requeueAfterMs: 10_000 };
  }
  // Only replica mode follows a source: the standing connection to it goes with it (replica-mode.ts).
  if (intent.kind !== "replicate") ctx.watchSource?.(undefined);
  if (
    intent.kind === "replicate" &&
    intent.join === undefined &&
    (await recogniseHandoff(ctx, intent.source))
  ) {
    // Handed the primary role by the source: the promotion is recorded; promote: true finishes it, and any
    // other spec is now a demotion that needs the token (decided on the next pass, from status).
    return intent.handoffAddress !== undefined ? runPromotion(ctx, intent.source) : { requeueAfterMs: 0 };
  }
  switch (intent.kind) {
    case "replicate": {
      if (intent.join !== undefined) {
        const joined = await runJoinByHandoff(ctx, intent.source, intent.join);
        if (joined !== "follow") return joined;
      }
      return runReplicaMode(ctx, intent.source, intent.topology, intent.handoffAddress);
    }
    case "promote":
      return runPromotion(ctx, intent.source);
    case "demote": {
      if (intent.join !== undefined) {
        // Handed over first; then nothing is discarded: the pods share the history (partial resyncs).
        const joined = await runJoinByHandoff(ctx, intent.source, intent.join);
        if (joined !== "follow") return joined;
        await recordHandedOverDemotion(ctx, intent.source, intent.replicationId);
        return runReplicaMode(ctx, intent.source, intent.topology);
      }
      return runDemotion(ctx, intent.source, intent.topology, intent.replicationId);
    }
    case "demotion-refused": {
      const message =
        `${promotedMessage(ctx.status().promotion?.formerSource ?? intent.source.clusterName)}. Replication from ` +
        `${intent.source.clusterName} is requested again, but without spec.replicaMode.demotionToken set to ` +
        `"${intent.replicationId}": the promoted cluster is kept`;
      if (ctx.status().promotion?.message !== message) {
        await ctx.commit((s) => ({ ...s, promotion: { ...s.promotion, message } }));
        await ctx.event("Warning", "DemotionRefused", message);
      }
      if (ctx.status().promotion?.phase !== "Completed") return runPromotion(ctx, intent.source);
      return ctx.sentinelMode ? underSentinel(ctx) : maintainPromoted(ctx);
    }
    case "standalone":
      return maintainPromoted(ctx);
    case "sentinel":
      return underSentinel(ctx);
  }
}

/**
 * A `mode: sentinel` cluster with a primary of its own (a primary cluster, or a promoted DR cluster): Sentinel
 * fails it over; the controller follows, and hands the cluster to any Sentinel that does not monitor it yet —
 * at once, on the pass that makes the primary (as soon as the primary lists the replicas re-pointed at it: a
 * Sentinel learns replicas from its INFO), and again while it hangs (to the Sentinels that came up after
 * it). Sentinel elects any replica it knows, even one still waiting for its first copy
 * (repl-diskless-sync-delay), and the pods that follow would then copy an empty dataset: so a replica is
 * unelectable (replica-priority 0) until its first copy is complete (pod-actions.ts, markElectable). Until
 * one is, a primary that dies is restored in place by the controller (with the catch-up guard).
 * SentinelProtected says which of these holds.
 */
async function underSentinel(ctx: ReplicationContext): Promise<EngineResult> {
  const result = await runSentinelMode(ctx);
  const primary = ctx.pods.find((p) => p.name === result.recordedPrimary);
  if (primary === undefined) return result;
  const { monitoring, knownReplicas } = await handOverToSentinels(ctx, primary, result.followingReplicas);
  const electable = result.electableReplicas ?? [];
  const known = electable.filter((pod) => knownReplicas?.has(`${pod.host}:${pod.port}`) === true).length;
  await reportProtection(ctx, {
    kind: "primary",
    primary: primary.name,
    monitoring,
    instances: ctx.instances,
    quorum: sentinelQuorum(ctx.instances),
    electable: electable.length,
    knownToSentinels: known,
    downAfterSeconds: Number(SENTINEL_TIMING["down-after-milliseconds"]) / 1000,
  });
  // Back soon while a replica that answers is not electable yet (its priority follows its first copy), or
  // some Sentinel does not know one yet (the condition says when it does).
  const waiting = result.replicasInSync !== true || known < electable.length;
  return waiting ? { ...result, requeueAfterMs: result.requeueAfterMs ?? 2000 } : result;
}

/** Condition SentinelProtected, written only when it changes (status and message). */
async function reportProtection(ctx: ReplicationContext, protection: SentinelProtection): Promise<void> {
  const condition = sentinelProtectedCondition(protection);
  const current = findCondition(ctx.status().conditions, condition.type);
  if (current?.status === condition.status && current.message === condition.message) return;
  await ctx.commit((s) => ({
    ...s,
    conditions: setCondition(s.conditions, condition, undefined, ctx.now()),
  }));
}
