/**
 * Sentinel mode: Redis Sentinel (a sidecar in every pod) elects the primary and reconfigures the replicas on
 * failover; the controller follows it — it does not re-point pods Sentinel manages. It only
 *   - bootstraps: while no pod is a primary (a new cluster, or every pod restarted and parked), it makes the
 *     designated leader the primary, with the same catch-up guard as standalone mode;
 *   - un-parks restarted pods: a parked pod follows the current primary (Sentinel would also fix it, later).
 * Which pod is the primary comes from the Sentinels when they answer, else from the pods themselves.
 */
import type { ObservedPod } from "../reconcile/decisions/pods.ts";
import { isHeld, isPrimary } from "../reconcile/decisions/pods.ts";
import type { ReplicationContext } from "./context.ts";
import { ensureLeaderPrimary, splitPods, upstreamOf } from "./leader.ts";
import { observePods } from "./observe.ts";
import { attach } from "./pod-actions.ts";
import type { EngineResult } from "./promotion.ts";

export const SENTINEL_PORT = 26379;
const RETRY_MS = 2000;

/** The pod the Sentinels name as the primary (by IP, or by the pod's DNS name they were configured with). */
async function sentinelsPrimary(
  ctx: ReplicationContext,
  pods: readonly ObservedPod[],
): Promise<ObservedPod | undefined> {
  for (const pod of pods) {
    const endpoint = { host: pod.host, port: SENTINEL_PORT };
    try {
      const address = await ctx.redis.get(endpoint).sentinelMaster(ctx.cluster);
      if (address === undefined) continue;
      const named = pods.find((p) => p.host === address.host || address.host.startsWith(`${p.name}.`));
      if (named !== undefined) return named;
    } catch {
      await ctx.redis.forget(endpoint);
    }
  }
  return undefined;
}

/** The primary Sentinel mode settles on: the Sentinels' choice if that pod really is a primary, else the only primary. */
export function choosePrimary(
  pods: readonly ObservedPod[],
  sentinelsChoice: ObservedPod | undefined,
): ObservedPod | "none" | "ambiguous" {
  if (sentinelsChoice !== undefined && isPrimary(sentinelsChoice.snapshot)) return sentinelsChoice;
  const primaries = pods.filter((p) => isPrimary(p.snapshot));
  if (primaries.length === 1 && primaries[0] !== undefined) return primaries[0];
  return primaries.length === 0 ? "none" : "ambiguous";
}

export async function runSentinelMode(ctx: ReplicationContext): Promise<EngineResult> {
  const pods = await observePods(ctx);
  let primary = choosePrimary(pods, await sentinelsPrimary(ctx, pods));
  if (primary === "ambiguous") {
    // Several primaries and no Sentinel verdict (a failover in progress): Sentinel decides, not us.
    return { requeueAfterMs: RETRY_MS };
  }
  if (primary === "none") {
    const state = await ensureLeaderPrimary(ctx, pods);
    const { leader } = splitPods(pods);
    if (state !== "primary" || leader === undefined) return { requeueAfterMs: RETRY_MS };
    primary = leader;
  }
  for (const pod of pods) {
    if (pod !== primary && pod.snapshot !== undefined && isHeld(pod.snapshot)) {
      await attach(ctx, pod, upstreamOf(primary), ctx.clusterPassword);
    }
  }
  return { primaryPod: primary.name };
}
