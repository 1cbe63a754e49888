/**
 * Replica mode: `direct` — every pod follows the source; `cascade` — the leader follows the source and the
 * others follow the leader. Also finishes what a revert left behind: an unfinished promotion is abandoned (or,
 * if the leader already took writes, reported as a demotion: revert.ts), and a demotion is marked complete
 * once every pod follows its upstream again.
 */
import type { Topology, SourceRef } from "../reconcile/decisions/intent.ts";
import type { ObservedPod, Upstream } from "../reconcile/decisions/pods.ts";
import { isHeld } from "../reconcile/decisions/pods.ts";
import type { ReplicationContext } from "./context.ts";
import { splitPods, upstreamOf } from "./leader.ts";
import { observePods, observeSource } from "./observe.ts";
import { attach, hold } from "./pod-actions.ts";
import type { EngineResult } from "./promotion.ts";
import { settleUnrecordedPromotion } from "./revert.ts";

const RETRY_MS = 2000;

export async function runReplicaMode(
  ctx: ReplicationContext,
  source: SourceRef,
  topology: Topology,
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
  if (ctx.tlsCa !== undefined) {
    // Redis verifies only the source's certificate chain; whether it names the source's host is checked
    // here, and a source whose certificate names another host is never followed.
    const { failure } = await observeSource(ctx, source);
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
    if (await attach(ctx, pod, upstream, masterauth, upstream === sourceUpstream)) repointed++;
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
