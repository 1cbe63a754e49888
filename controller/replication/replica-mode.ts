/**
 * Replica mode: `direct` — every pod follows the source; `cascade` — the leader follows the source and the
 * others follow the leader. Also finishes what a revert left behind: an unfinished promotion is abandoned (or,
 * if the leader already took writes, reported as a demotion: revert.ts), and a demotion is marked complete
 * once every pod follows its upstream again.
 */
import { sourceDiscontinuityCondition } from "../model/conditions.ts";
import type { Topology, SourceRef } from "../model/intent.ts";
import type { SourceVerdict } from "./decisions/source-continuity.ts";
import { SAMPLE_SIZE, judgeSource } from "./decisions/source-continuity.ts";
import type { ObservedPod, Upstream } from "../model/pods.ts";
import { isHeld } from "../model/pods.ts";
import type { ReplicationContext } from "./context.ts";
import { splitPods, upstreamOf } from "./leader.ts";
import type { SourceObservation } from "./observe.ts";
import { observePods, observeSource, podEndpoint, sourceEndpoint } from "./observe.ts";
import { raiseCondition, settleCondition } from "./raised-conditions.ts";
import { attach, hold } from "./pod-actions.ts";
import type { EngineResult } from "./promotion.ts";
import { settleUnrecordedPromotion } from "./revert.ts";
import { announceHandoffAddress } from "./handoff.ts";
import type { HandoffTarget } from "./decisions/switchover.ts";

const RETRY_MS = 2000;
/** How soon a pass looks again at pods that may not yet have seen an unreachable source go (guardContinuity). */
const SOURCE_GONE_RECHECK_MS = 200;

export async function runReplicaMode(
  ctx: ReplicationContext,
  source: SourceRef,
  topology: Topology,
  /** promoteBy: Handoff: the leader announces this address to the source (switchover.ts). */
  handoffAddress?: HandoffTarget,
): Promise<EngineResult> {
  const pods = await observePods(ctx);
  const promotion = ctx.status().promotion;
  let settled = true;
  if (promotion !== undefined && (promotion.replicationId ?? "") === "") {
    // Reverted before the new history was recorded: abandoned, or the leader already took writes (revert.ts).
    settled = await settleUnrecordedPromotion(ctx, source, pods);
  }
  const { leader } = splitPods(pods);
  const sourceUpstream = upstreamOf(source);
  const plan: { pod: ObservedPod; upstream: Upstream; masterauth: string | undefined }[] = [];
  for (const pod of pods) {
    if (topology === "cascade" && pod !== leader) {
      // Without a reachable leader the followers stay where they are: they keep their data meanwhile.
      if (leader?.snapshot !== undefined)
        plan.push({ pod, upstream: upstreamOf(leader), masterauth: ctx.clusterPassword });
    } else {
      plan.push({ pod, upstream: sourceUpstream, masterauth: ctx.sourcePassword });
    }
  }
  const observed = await observeSource(ctx, source);
  const held = await guardContinuity(ctx, source, observed, plan, sourceUpstream);
  if (held !== undefined) return { requeueAfterMs: held };
  if (ctx.tlsCa !== undefined) {
    // Redis verifies only the source's certificate chain; whether it names the source's host is checked
    // here, and a source whose certificate names another host is never followed.
    const { failure } = observed;
    if (failure?.kind === "tls-identity") {
      let held = 0;
      for (const { pod, upstream } of plan) {
        if (upstream !== sourceUpstream || pod.snapshot === undefined || isHeld(pod.snapshot)) continue;
        await hold(ctx, pod);
        held++;
      }
      // Said when it starts (the status then carries the same message) and whenever a pod had to be held.
      const reported = ctx
        .status()
        .conditions?.some((c) => c.type === "ReplicationHealthy" && c.message.includes(failure.message));
      if (held > 0 || reported !== true) {
        await ctx.event("Warning", "SourceCertificateMismatch", failure.message);
      }
      return { requeueAfterMs: RETRY_MS };
    }
  }
  let repointed = 0;
  for (const { pod, upstream, masterauth } of plan) {
    if (pod.snapshot === undefined) continue;
    const announcesHandoff = handoffAddress !== undefined && pod === leader && upstream === sourceUpstream;
    if (await attach(ctx, pod, upstream, masterauth, upstream === sourceUpstream, announcesHandoff))
      repointed++;
    if (announcesHandoff) await announceHandoffAddress(ctx, pod, source, handoffAddress);
  }
  if (repointed > 0) {
    await ctx.event(
      "Normal",
      "ReplicationConfigured",
      `${repointed} pod(s) set to replicate ${topology === "cascade" ? "(cascade) " : ""}from ${source.clusterName} (${source.host}:${source.port})`,
    );
  }
  // After the loop every reachable pod in the plan follows its upstream.
  const complete =
    settled &&
    pods.length === ctx.instances &&
    plan.length === pods.length &&
    plan.every(({ pod }) => pod.snapshot !== undefined);
  const demotion = ctx.status().lastDemotion;
  if (demotion !== undefined && demotion.completedAt === undefined && complete) {
    await ctx.event("Normal", "DemotionCompleted", `Every pod replicates from ${source.clusterName} again`);
    await ctx.commit((s) => ({
      ...s,
      lastDemotion: { ...s.lastDemotion, completedAt: ctx.now().toISOString() },
    }));
  }
  return complete ? {} : { requeueAfterMs: RETRY_MS };
}

type PlannedPod = { readonly pod: ObservedPod; readonly upstream: Upstream };

/**
 * Holds the pods that follow the source when following it could cost their data, and says so; returns
 * undefined when they may follow it now, else how soon to look again. Two cases:
 * - the source cannot be asked and the pods' links to it are down too (it died or restarted): held until it
 *   answers, since Redis would re-connect them by itself to whatever comes back, before any check;
 * - the source answers on another history, or with its keys collapsed (judgeSource): held until a human
 *   confirms, with condition SourceDiscontinuity and a Warning Event.
 * While the source answers, a standing connection to it (ctx.watchSource) brings the next pass the moment
 * it goes away.
 */
async function guardContinuity(
  ctx: ReplicationContext,
  source: SourceRef,
  observed: SourceObservation,
  plan: readonly PlannedPod[],
  sourceUpstream: Upstream,
): Promise<number | undefined> {
  const followers = plan.filter((p) => p.upstream === sourceUpstream && p.pod.snapshot !== undefined);
  const snapshot = observed.snapshot;
  if (snapshot === undefined) {
    ctx.watchSource?.(undefined);
    if (observed.failure?.kind !== "unreachable") return undefined;
    // A pod in the middle of a full sync from the source is left to finish it: the source answers it, so
    // the controller's own failure to ask it (a timeout under load) says nothing about a restart.
    const cutOff = followers.filter((p) => {
      const master = p.pod.snapshot?.replication.master;
      return master?.linkStatus !== "up" && master?.syncInProgress !== true;
    });
    for (const { pod } of cutOff) await hold(ctx, pod);
    // A pod whose link still says up may not have read the source's close yet (a loaded node reads it late)
    // and would re-connect by itself within a second to whatever comes back: looked at again soon, not at
    // the next resync. While only the controller cannot reach a live source, that is a pass per
    // SOURCE_GONE_RECHECK_MS plus the connect timeout.
    const unaware = followers.some((p) => p.pod.snapshot?.replication.master?.linkStatus === "up");
    if (unaware) return SOURCE_GONE_RECHECK_MS;
    return cutOff.length === 0 ? undefined : RETRY_MS;
  }
  const input = {
    cluster: ctx.cluster,
    sourceName: source.clusterName,
    source: snapshot,
    followedId: ctx.status().replication?.sourceReplicationId,
    followedRunId: ctx.status().replication?.sourceRunId,
    pods: followers.map((p) => p.pod),
    accepted: ctx.acceptSourceHistory,
  };
  let verdict = judgeSource(input);
  if (verdict.kind === "sample") {
    const sampledPod = verdict.pod;
    // Held while asked: Redis may be re-connecting them to the restarted source at this very moment.
    for (const { pod } of followers) await hold(ctx, pod);
    const sample = await sampleOnSource(ctx, source, followers, verdict.pod);
    verdict = judgeSource({ ...input, sample });
    if (verdict.kind === "follow") {
      await ctx.event(
        "Warning",
        "SourceRestarted",
        `${source.clusterName} restarted on a new replication history (ID ${snapshot.replication.masterReplid}) ` +
          `with its data: it holds ${snapshot.keyCount} keys, and ${sample.present} of ${sample.sampled} keys ` +
          `sampled on ${sampledPod}; the pods copy it in full`,
      );
    }
  }
  const runId = snapshot.runId;
  if (verdict.kind === "follow" && runId !== undefined && runId !== input.followedRunId) {
    // This process is followed from now on (continuous, judged the same dataset, or confirmed): a pass
    // before the pods' copy is done must not judge it again and interrupt the copy.
    await ctx.commit((s) => ({ ...s, replication: { ...s.replication, sourceRunId: runId } }));
  }
  if (verdict.kind === "discontinuous") {
    for (const { pod } of followers) await hold(ctx, pod);
    await reportDiscontinuity(ctx, verdict);
    return RETRY_MS;
  }
  ctx.watchSource?.(sourceEndpoint(ctx, source));
  await clearDiscontinuity(ctx, snapshot.replication.masterReplid);
  return undefined;
}

const reportDiscontinuity = (
  ctx: ReplicationContext,
  verdict: Extract<SourceVerdict, { kind: "discontinuous" }>,
): Promise<void> => raiseCondition(ctx, sourceDiscontinuityCondition(verdict.reason, verdict.message));

const clearDiscontinuity = (ctx: ReplicationContext, sourceId: string): Promise<void> =>
  settleCondition(ctx, sourceDiscontinuityCondition(undefined, sourceId), "SourceHistoryAccepted");

/** SAMPLE_SIZE keys of `podName`, and how many of them the source holds. */
async function sampleOnSource(
  ctx: ReplicationContext,
  source: SourceRef,
  followers: readonly PlannedPod[],
  podName: string,
): Promise<{ sampled: number; present: number }> {
  const pod = followers.find((p) => p.pod.name === podName)?.pod;
  if (pod === undefined) return { sampled: 0, present: 0 };
  const keys = await ctx.redis.get(podEndpoint(ctx, pod)).sampleKeys(SAMPLE_SIZE);
  const present = await ctx.redis.get(sourceEndpoint(ctx, source)).countExisting(keys);
  return { sampled: keys.length, present };
}
