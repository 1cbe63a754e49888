/**
 * The few things the engine does to a pod, each idempotent: re-running one after a crash is harmless.
 */
import type { RedisAdmin } from "../redis/admin-port.ts";
import type { ObservedPod, Upstream } from "../model/pods.ts";
import { HOLD_UPSTREAM, followsUpstream } from "../model/pods.ts";
import { REPLICATION_USER } from "../redis/users.ts";
import type { ReplicationContext } from "./context.ts";
import { podEndpoint } from "./observe.ts";

/**
 * The address a pod of a replica cluster announces to its upstream (`replica-announce-ip`). The source lists
 * its replicas in INFO replication, and its Sentinels monitor — and may re-point or promote — every replica
 * listed there, at the address listed. Seen from the source, a DR pod's connection comes from wherever the
 * cross-region path put it (a NAT address, a proxy, a gateway that may lead back to the source itself), so
 * the pods announce a name under `.invalid` (RFC 6761: it never resolves): the source's INFO says which DR
 * pod each replica is, and its Sentinels can never reach, reconfigure or elect one.
 */
const foreignReplicaName = (pod: { name: string }): string => `${pod.name}.dr-replica.invalid`;

/**
 * The user and password a pod authenticates with to its upstream: to the source, the source's user (its
 * `default` user when none is named) and `masterauth`; to a pod of its own cluster, REPLICATION_USER when the
 * cluster has its users (redis/users.ts), else `default` with `masterauth` (the cluster's password).
 */
function upstreamCredentials(
  ctx: ReplicationContext,
  masterauth: string | undefined,
  ofSource: boolean,
): { user: string; password: string } {
  if (ofSource) return { user: ctx.sourceUsername ?? "", password: masterauth ?? "" };
  if (ctx.users === undefined) return { user: "", password: masterauth ?? "" };
  return { user: REPLICATION_USER, password: ctx.users.replication };
}

/**
 * Makes the pod replicate from `upstream`, authenticating as upstreamCredentials says (set before REPLICAOF,
 * which starts the handshake at once). Returns true when it had to re-point the pod.
 * `ofSource` (a pod following another cluster) sets replica-priority 0 and announces foreignReplicaName: the
 * source's Sentinels must never elect or re-point a pod of another cluster. Pods following a pod of their own
 * cluster announce their address, for their own cluster's Sentinels; in Sentinel mode a pod the controller
 * re-points gets replica-priority 0 too, until its first copy is complete (markElectable).
 */
export async function attach(
  ctx: ReplicationContext,
  pod: ObservedPod,
  upstream: Upstream,
  masterauth: string | undefined,
  ofSource = false,
  /** The DR leader awaiting a hand-off: its announced address is the hand-off address (prepareHandoffTarget). */
  keepAnnounced = false,
): Promise<boolean> {
  const admin = ctx.redis.get(podEndpoint(ctx, pod));
  const priority = replicaPriority(ctx, ofSource, followsUpstream(pod.snapshot, upstream));
  if (priority !== undefined) await ensureConfig(admin, "replica-priority", priority);
  if (!keepAnnounced) {
    // Announced at the next handshake: set before REPLICAOF below starts one.
    await ensureConfig(admin, "replica-announce-ip", ofSource ? foreignReplicaName(pod) : "");
    await ensureConfig(admin, "replica-announce-port", "0");
  }
  // Compared in memory and never logged; set only when it differs (e.g. the source Secret rotated).
  const credentials = upstreamCredentials(ctx, masterauth, ofSource);
  await ensureConfig(admin, "masteruser", credentials.user);
  await ensureConfig(admin, "masterauth", credentials.password);
  if (followsUpstream(pod.snapshot, upstream)) return false;
  // A pod that was a temporary catch-up donor still refuses writes through this; a replica ignores it anyway.
  await ensureConfig(admin, "min-replicas-to-write", "0");
  await admin.replicaOf(upstream.host, upstream.port);
  ctx.log.info({ pod: pod.name, upstream: `${upstream.host}:${upstream.port}` }, "pod re-pointed");
  return true;
}

/**
 * `replica-priority` (Sentinel never elects a replica whose priority is 0): every pod boots with 0
 * (kube/resources/redis-config.ts), a pod following the source keeps 0, and in Sentinel mode a pod being re-pointed within
 * its cluster gets 0 — Sentinel elects any replica it knows, even one still waiting for its first copy, and
 * the pods that follow it would then copy an empty dataset. markElectable sets ELECTABLE_PRIORITY once the
 * copy is complete. Without Sentinel the value does not matter: own-cluster pods get the default.
 * Undefined: leave it as it is (an attached pod of a Sentinel cluster: markElectable decides).
 */
function replicaPriority(ctx: ReplicationContext, ofSource: boolean, following: boolean): string | undefined {
  if (ofSource) return UNELECTABLE_PRIORITY;
  if (!ctx.sentinelMode) return ELECTABLE_PRIORITY;
  return following ? undefined : UNELECTABLE_PRIORITY;
}

/** Redis' default replica-priority: Sentinel may elect the replica. */
const ELECTABLE_PRIORITY = "100";
/** Sentinel never elects a replica with this priority. */
const UNELECTABLE_PRIORITY = "0";

/**
 * The replica holds its primary's data (its link is up: its first copy is complete and loaded), so Sentinel
 * may elect it. Returns true when it had to change the priority.
 */
export async function markElectable(ctx: ReplicationContext, pod: ObservedPod): Promise<boolean> {
  const admin = ctx.redis.get(podEndpoint(ctx, pod));
  if ((await admin.configGet("replica-priority")) === ELECTABLE_PRIORITY) return false;
  await admin.configSet("replica-priority", ELECTABLE_PRIORITY);
  ctx.log.info({ pod: pod.name }, "replica holds the primary's data: Sentinel may elect it");
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
  const becoming = pod.snapshot?.replication.role !== "master";
  // Set first (and confirmed), so the instance never accepts a write it should not. A former replica-mode
  // pod also announces its own address again, should Sentinel later make it a replica.
  await ensureConfigs(admin, {
    "min-replicas-to-write": String(minReplicasToWrite),
    ...(becoming ? { "replica-announce-ip": "", "replica-announce-port": "0" } : {}),
  });
  if (becoming) {
    await admin.replicaOfNoOne();
    ctx.log.info({ pod: pod.name }, "pod made a primary");
  }
}

/** The pod authenticates to its primary, a pod of its own cluster, as it should (set only when it differs). */
export async function ensureMasterauth(
  ctx: ReplicationContext,
  pod: ObservedPod,
  masterauth: string | undefined,
): Promise<void> {
  const admin = ctx.redis.get(podEndpoint(ctx, pod));
  const credentials = upstreamCredentials(ctx, masterauth, false);
  await ensureConfig(admin, "masteruser", credentials.user);
  await ensureConfig(admin, "masterauth", credentials.password);
}

/** CONFIG SET only when the value differs: every action must be a no-op when repeated. */
export async function ensureConfig(admin: RedisAdmin, parameter: string, value: string): Promise<void> {
  if ((await admin.configGet(parameter)) !== value) await admin.configSet(parameter, value);
}

/**
 * ensureConfig for several parameters in two round trips: the reads side by side, then the writes that
 * differ. One connection answers in order, and nothing the caller sends next goes before the writes.
 */
async function ensureConfigs(admin: RedisAdmin, values: Readonly<Record<string, string>>): Promise<void> {
  const wanted = Object.entries(values);
  const current = await Promise.all(wanted.map(([parameter]) => admin.configGet(parameter)));
  await Promise.all(
    wanted
      .filter(([, value], i) => current[i] !== value)
      .map(([parameter, value]) => admin.configSet(parameter, value)),
  );
}

/** A donor takes no writes: it only serves the leader's catch-up. */
export const DONOR_MIN_REPLICAS_TO_WRITE = 1_000_000;

/**
 * A promoted leader takes no writes until status records its replication ID: a write accepted before then
 * could be discarded by a revert the API server admits without the demotion token.
 */
export const UNRECORDED_MIN_REPLICAS_TO_WRITE = DONOR_MIN_REPLICAS_TO_WRITE;
