/**
 * The few things the engine does to a pod, each idempotent: re-running one after a crash is harmless.
 */
import type { RedisAdmin } from "../redis/admin-port.ts";
import type { ObservedPod, Upstream } from "../reconcile/decisions/pods.ts";
import { HOLD_UPSTREAM, followsUpstream } from "../reconcile/decisions/pods.ts";
import type { ReplicationContext } from "./context.ts";
import { podEndpoint } from "./observe.ts";

/**
 * Makes the pod replicate from `upstream`, authenticating with `masterauth` (set before REPLICAOF, which
 * starts the handshake at once). Returns true when it had to re-point the pod.
 * `promotable` false (replica mode) sets replica-priority 0: the source's Sentinels see the pods following it
 * as replicas of their primary and must never elect one of them (a pod of another cluster).
 */
export async function attach(
  ctx: ReplicationContext,
  pod: ObservedPod,
  upstream: Upstream,
  masterauth: string | undefined,
  promotable = true,
): Promise<boolean> {
  const admin = ctx.redis.get(podEndpoint(ctx, pod));
  await ensureConfig(admin, "replica-priority", promotable ? "100" : "0");
  // Compared in memory and never logged; set only when it differs (e.g. the source Secret rotated).
  await ensureConfig(admin, "masterauth", masterauth ?? "");
  if (followsUpstream(pod.snapshot, upstream)) return false;
  // A pod that was a temporary catch-up donor still refuses writes through this; a replica ignores it anyway.
  await ensureConfig(admin, "min-replicas-to-write", "0");
  await admin.replicaOf(upstream.host, upstream.port);
  ctx.log.info({ pod: pod.name, upstream: `${upstream.host}:${upstream.port}` }, "pod re-pointed");
  return true;
}

/** Parks the pod (see HOLD_UPSTREAM): it keeps its data and offset, takes no writes and feeds nobody. */
export async function hold(ctx: ReplicationContext, pod: ObservedPod): Promise<void> {
  if (followsUpstream(pod.snapshot, HOLD_UPSTREAM)) return;
  await ctx.redis.get(podEndpoint(ctx, pod)).replicaOf(HOLD_UPSTREAM.host, HOLD_UPSTREAM.port);
  ctx.log.info({ pod: pod.name }, "pod held");
}

/** REPLICAOF NO ONE, with min-replicas-to-write as given (a huge value keeps a temporary donor read-only). */
export async function makePrimary(
  ctx: ReplicationContext,
  pod: ObservedPod,
  minReplicasToWrite: number,
): Promise<void> {
  const admin = ctx.redis.get(podEndpoint(ctx, pod));
  // Set first, so the instance never accepts a write it should not.
  await ensureConfig(admin, "min-replicas-to-write", String(minReplicasToWrite));
  if (pod.snapshot?.replication.role !== "master") {
    await admin.replicaOfNoOne();
    ctx.log.info({ pod: pod.name }, "pod made a primary");
  }
}

/** The pod authenticates to its primary with this password (set only when it differs). */
export async function ensureMasterauth(
  ctx: ReplicationContext,
  pod: ObservedPod,
  masterauth: string | undefined,
): Promise<void> {
  await ensureConfig(ctx.redis.get(podEndpoint(ctx, pod)), "masterauth", masterauth ?? "");
}

/** CONFIG SET only when the value differs: every action must be a no-op when repeated. */
async function ensureConfig(admin: RedisAdmin, parameter: string, value: string): Promise<void> {
  if ((await admin.configGet(parameter)) !== value) await admin.configSet(parameter, value);
}

/** A donor takes no writes: it only serves the leader's catch-up. */
export const DONOR_MIN_REPLICAS_TO_WRITE = 1_000_000;
