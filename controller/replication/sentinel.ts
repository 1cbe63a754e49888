/**
 * Sentinel mode: Redis Sentinel (a sidecar in every pod) elects the primary and reconfigures the replicas on
 * failover; the controller follows it — it does not re-point pods Sentinel manages. It only
 *   - restores a primary while no pod is one: the pod Sentinel names (it restarted and came back parked), or
 *     the designated leader for a new cluster — with the same catch-up guard as standalone mode;
 *   - un-parks restarted pods: a parked pod follows the current primary (Sentinel would also fix it, later).
 * Which pod is the primary comes from the Sentinels when they answer, else from the pods themselves.
 */
import { ADMIN_USER, SENTINEL_USER } from "../redis/users.ts";
import type { ObservedPod, PodEndpoint } from "../model/pods.ts";
import { followsUpstream, isAttachedTo, isHeld, isPrimary } from "../model/pods.ts";
import type { ReplicationContext } from "./context.ts";
import { ensurePrimary, splitPods, upstreamOf } from "./leader.ts";
import { observePods, podEndpoint } from "./observe.ts";
import { attach, ensureMasterauth, makePrimary, markElectable } from "./pod-actions.ts";
import type { EngineResult } from "./promotion.ts";

const SENTINEL_PORT = 26379;
const RETRY_MS = 2000;

/** How the Sentinels judge and fail over (the sidecar's boot config says the same). */
export const SENTINEL_TIMING = {
  "down-after-milliseconds": "5000",
  "failover-timeout": "30000",
  "parallel-syncs": "1",
} as const;

export const sentinelQuorum = (instances: number): number => Math.floor(instances / 2) + 1;

/**
 * A pod's Sentinel; over TLS with `tlsSecret`, like the pod itself (its name unchecked, as for pods). The
 * controller logs in as ADMIN_USER (Sentinels refuse clients without a password, redis/users.ts).
 */
const sentinelEndpoint = (ctx: ReplicationContext, pod: { host: string }) => ({
  host: pod.host,
  port: SENTINEL_PORT,
  ...(ctx.users === undefined ? {} : { username: ADMIN_USER, password: ctx.users.admin }),
  tls: ctx.tlsCa === undefined ? undefined : { ca: ctx.tlsCa },
});

/** What the Sentinels said when the cluster was handed over to them. */
export interface SentinelHandOver {
  /** Sentinels told to monitor the cluster on this pass. */
  readonly told: number;
  /** Sentinels that monitor the cluster now (told, or already monitoring it). */
  readonly monitoring: number;
  /**
   * `host:port` of the replicas that every Sentinel monitoring the cluster knows (SENTINEL REPLICAS), or
   * undefined when none said. Sentinel elects only a replica it knows, and learns them only from the
   * primary's INFO: on connecting to it, then every 10 s, and never while it hangs.
   */
  readonly knownReplicas: ReadonlySet<string> | undefined;
}

/**
 * A `mode: sentinel` cluster with a primary of its own (a primary cluster, or a DR cluster once promoted)
 * hands its failover to Sentinel: every Sentinel that does not yet monitor the cluster is told to monitor
 * `primary` (with the password of SENTINEL_USER).
 *
 * A Sentinel learns the primary's replicas from the INFO it sends on connecting to it, then only every 10 s.
 * Told while a replica is still connecting, it would not know that replica for up to 10 s — and not at all if
 * the primary hung meanwhile: it would judge the primary down and have no replica to elect. So the Sentinels
 * are told once the primary lists every pod that follows it (`joining`: re-pointed on this pass, or on an
 * earlier one that could not tell a Sentinel yet — the Sentinels of a new cluster start beside Redis, and may
 * answer only on the pass after the one that re-pointed the replicas), or after JOINING_WAIT_MS (a replica
 * that cannot connect must not keep the others from being protected). A replica already connected is listed
 * at once: the wait costs nothing then.
 */
export async function handOverToSentinels(
  ctx: ReplicationContext,
  primary: PodEndpoint,
  joining: readonly PodEndpoint[] = [],
): Promise<SentinelHandOver> {
  const settings: Record<string, string> = { ...SENTINEL_TIMING };
  // Sentinel reaches the pods as SENTINEL_USER (only what Sentinel sends); auth-user before auth-pass.
  if (ctx.users !== undefined) {
    settings["auth-user"] = SENTINEL_USER;
    settings["auth-pass"] = ctx.users.sentinel;
  } else if (ctx.clusterPassword !== undefined) settings["auth-pass"] = ctx.clusterPassword;
  const failed = async (pod: PodEndpoint, error: unknown): Promise<void> => {
    ctx.log.warn({ pod: pod.name, err: error }, "could not hand the cluster over to the pod's Sentinel");
    await ctx.redis.forget(sentinelEndpoint(ctx, pod));
  };
  // What each Sentinel knows: the replicas, when it monitors the cluster; undefined when it did not answer.
  const views = await Promise.all(
    ctx.pods.map(async (pod): Promise<{ pod: PodEndpoint; known: Set<string> | "none" } | undefined> => {
      const admin = ctx.redis.get(sentinelEndpoint(ctx, pod));
      try {
        if ((await admin.sentinelMaster(ctx.cluster)) === undefined) return { pod, known: "none" };
        const replicas = await admin.sentinelReplicas(ctx.cluster);
        return { pod, known: new Set(replicas.map((r) => `${r.host}:${r.port}`)) };
      } catch (error) {
        await failed(pod, error);
        return undefined;
      }
    }),
  );
  const untold = views.flatMap((view) => (view?.known === "none" ? [view.pod] : []));
  if (untold.length > 0 && joining.length > 0) await awaitListed(ctx, primary, joining);
  const told = await Promise.all(
    untold.map(async (pod) => {
      try {
        await ctx.redis
          .get(sentinelEndpoint(ctx, pod))
          .sentinelMonitor(
            ctx.cluster,
            { host: primary.host, port: primary.port },
            sentinelQuorum(ctx.instances),
            settings,
          );
        return true;
      } catch (error) {
        await failed(pod, error);
        return false;
      }
    }),
  );
  const count = told.filter(Boolean).length;
  if (count > 0) {
    await ctx.event(
      "Normal",
      "SentinelMonitoring",
      `${count} Sentinel(s) now monitor ${primary.name}: Sentinel runs the failover of the promoted cluster`,
    );
  }
  const monitored = views.flatMap((view) =>
    view === undefined || view.known === "none" ? [] : [view.known],
  );
  const [first] = monitored;
  return {
    told: count,
    monitoring: monitored.length + count,
    // A Sentinel told on this pass is only connecting to the primary: it knows no replica yet.
    knownReplicas:
      count > 0
        ? new Set()
        : first && new Set([...first].filter((replica) => monitored.every((view) => view.has(replica)))),
  };
}

/** How long the Sentinels' hand-over waits for the primary to list the pods just re-pointed at it. */
const JOINING_WAIT_MS = 1000;

/** Until the primary lists every one of `joining` among its replicas (INFO replication), for JOINING_WAIT_MS. */
async function awaitListed(
  ctx: ReplicationContext,
  primary: PodEndpoint,
  joining: readonly PodEndpoint[],
): Promise<void> {
  const admin = ctx.redis.get(podEndpoint(ctx, primary));
  const deadline = Date.now() + JOINING_WAIT_MS;
  for (;;) {
    const listed = await admin.replication().then(
      (info) => new Set(info.replicas.map((r) => `${r.ip}:${r.port}`)),
      () => new Set<string>(),
    );
    const missing = joining.filter((pod) => !listed.has(`${pod.host}:${pod.port}`));
    if (missing.length === 0) return;
    if (Date.now() >= deadline) {
      ctx.log.info(
        { pods: missing.map((pod) => pod.name) },
        "the Sentinels are told before the primary lists these replicas: they learn them within 10 s",
      );
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Makes every replica attached to `primary` (link up: its first copy is complete) electable by Sentinel
 * (pod-actions.ts, markElectable). Returns the replicas electable now. Needs only the replicas' answers, so
 * a hung primary's replicas still become electable.
 */
async function markElectableReplicas(
  ctx: ReplicationContext,
  pods: readonly ObservedPod[],
  primary: ObservedPod,
): Promise<ObservedPod[]> {
  const upstream = upstreamOf(primary);
  const attached = pods.filter((p) => p !== primary && isAttachedTo(p.snapshot, upstream));
  for (const pod of attached) await markElectable(ctx, pod);
  return attached;
}

/**
 * While a `mode: sentinel` cluster replicates from its source (or is promoted or demoted), its Sentinels
 * must not monitor it: a failover would make a pod a primary inside a replica cluster.
 */
export async function releaseSentinels(ctx: ReplicationContext): Promise<void> {
  await Promise.all(
    ctx.pods.map(async (pod) => {
      const admin = ctx.redis.get(sentinelEndpoint(ctx, pod));
      try {
        if ((await admin.sentinelMaster(ctx.cluster)) === undefined) return;
        await admin.sentinelRemove(ctx.cluster);
        ctx.log.info({ pod: pod.name }, "the pod's Sentinel no longer monitors the cluster");
      } catch (error) {
        // A Sentinel not running yet monitors nothing; asked again on the next reconcile.
        ctx.log.debug(
          { pod: pod.name, err: error },
          "the pod's Sentinel could not be asked to release the cluster",
        );
        await ctx.redis.forget(sentinelEndpoint(ctx, pod));
      }
    }),
  );
}

/** The pod the Sentinels name as the primary (by IP, or by the pod's DNS name they were configured with). */
async function sentinelsPrimary(
  ctx: ReplicationContext,
  pods: readonly ObservedPod[],
): Promise<ObservedPod | undefined> {
  // Asked in parallel: a hung pod's Sentinel must not delay the others' answer.
  const answers = await Promise.all(
    pods.map(async (pod) => {
      const endpoint = sentinelEndpoint(ctx, pod);
      try {
        return await ctx.redis.get(endpoint).sentinelMaster(ctx.cluster);
      } catch (error) {
        // Counted as no answer: the others' votes decide.
        ctx.log.debug(
          { pod: pod.name, err: error },
          "the pod's Sentinel did not say which pod is the primary",
        );
        await ctx.redis.forget(endpoint);
        return undefined;
      }
    }),
  );
  // The answer most Sentinels give (they agree once a failover is over).
  const votes = new Map<string, number>();
  for (const address of answers) {
    if (address !== undefined) votes.set(address.host, (votes.get(address.host) ?? 0) + 1);
  }
  const [host] = [...votes.entries()].sort((a, b) => b[1] - a[1])[0] ?? [];
  if (host === undefined) return undefined;
  return pods.find((p) => p.host === host || host.startsWith(`${p.name}.`));
}

/** SENTINEL FAILOVER on the first Sentinel that accepts it (or is already failing over). */
async function askSentinelsToFailOver(
  ctx: ReplicationContext,
  pods: readonly ObservedPod[],
): Promise<"started" | "in-progress" | false> {
  for (const pod of pods) {
    const endpoint = sentinelEndpoint(ctx, pod);
    try {
      const answer = await ctx.redis.get(endpoint).sentinelFailover(ctx.cluster);
      if (answer !== false) return answer;
    } catch (error) {
      // The next pod's Sentinel is asked instead.
      ctx.log.warn({ pod: pod.name, err: error }, "the pod's Sentinel refused or failed SENTINEL FAILOVER");
      await ctx.redis.forget(endpoint);
    }
  }
  return false;
}

/**
 * The pod to ask Sentinel to fail over from: the one the Sentinels name, when it restarted (it is back parked,
 * see HOLD_UPSTREAM) and some other pod can take over. A named pod that is unreachable, slow, or a replica
 * of something else did not restart: the first is Sentinel's to judge, the last is restored in place.
 */
export function restartedPrimary(
  pods: readonly ObservedPod[],
  named: ObservedPod | undefined,
): ObservedPod | undefined {
  if (named === undefined || !isHeld(named.snapshot)) return undefined;
  const successor = pods.some((p) => p !== named && p.snapshot !== undefined && !isHeld(p.snapshot));
  return successor ? named : undefined;
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
  const named = await sentinelsPrimary(ctx, pods);
  // The primary as last known (the Sentinels' answer, else status): while it cannot be asked (hung), its
  // replicas that hold its data are still made electable and the Sentinels not told yet are told.
  const recorded = named ?? pods.find((p) => p.name === ctx.status().currentPrimary);
  const unsettled = async (): Promise<EngineResult> =>
    recorded === undefined
      ? { requeueAfterMs: RETRY_MS }
      : {
          requeueAfterMs: RETRY_MS,
          recordedPrimary: recorded.name,
          electableReplicas: await markElectableReplicas(ctx, pods, recorded),
        };
  let primary = choosePrimary(pods, named);
  if (primary === "ambiguous") {
    // Several primaries and no Sentinel verdict (a failover in progress): Sentinel decides, not us.
    return unsettled();
  }
  if (primary === "none") {
    // The primary Sentinel names came back parked after its process died, and replicas are there to take
    // over: the failover is Sentinel's (it picks the replica with the most data); asked for at once, since
    // Sentinel itself would only notice the lost role after tens of seconds.
    const restarted = restartedPrimary(pods, named);
    if (restarted !== undefined) {
      const answer = await askSentinelsToFailOver(ctx, pods);
      ctx.log.info({ pod: restarted.name, answer }, "Sentinel asked to fail over from a restarted primary");
      // Said once: while Sentinel is at it, the next passes only wait for its new primary.
      if (answer === "started") {
        await ctx.event(
          "Normal",
          "SentinelFailoverRequested",
          `${restarted.name} restarted and lost its role as the primary: Sentinel was asked to fail over`,
        );
      }
      if (answer !== false) return { requeueAfterMs: 1000 };
    }
    // Otherwise nobody can take over (a new cluster, or no replica left): the one Sentinel names, else the
    // designated leader, is restored as the primary with the catch-up guard.
    const target = named ?? splitPods(pods).leader;
    if (target === undefined) return unsettled();
    const master = target.snapshot?.replication.master;
    const catchingUp = pods.some((p) => p !== target && p.host === master?.host && p.port === master.port);
    if (named !== undefined && master !== undefined && !isHeld(target.snapshot) && !catchingUp) {
      // Not a restart (that parks the pod): something else re-pointed the primary, e.g. a Sentinel that took
      // an address leading back to it for one of its replicas. Restored, and said.
      await ctx.event(
        "Warning",
        "PrimaryRepointed",
        `${target.name}, the primary the Sentinels name, was found replicating from ${master.host}:${master.port} ` +
          "without having restarted; no other pod is a primary, so it is made the primary again",
      );
    }
    const state = await ensurePrimary(
      ctx,
      target,
      pods.filter((p) => p !== target),
    );
    if (state !== "primary") return unsettled();
    primary = target;
  }
  const previous = ctx.status().currentPrimary;
  if (previous !== undefined && previous !== primary.name && pods.some((p) => p.name === previous)) {
    await ctx.event(
      "Normal",
      "SentinelFailover",
      `Sentinel made ${primary.name} the primary (it was ${previous}); the leader Service and currentPrimary follow it`,
    );
  }
  // min-replicas-to-write on whichever pod is the primary now (a pod Sentinel promoted has the replica's 0).
  await makePrimary(ctx, primary, ctx.minSyncReplicas);
  const upstream = upstreamOf(primary);
  let replicasInSync = true;
  /** The pods that follow the primary: re-pointed on this pass, or by an earlier one (handOverToSentinels). */
  const followers: ObservedPod[] = [];
  for (const pod of pods) {
    if (pod === primary || pod.snapshot === undefined) continue;
    if (!isAttachedTo(pod.snapshot, upstream)) replicasInSync = false;
    if (isHeld(pod.snapshot)) {
      if (await attach(ctx, pod, upstream, ctx.clusterPassword)) followers.push(pod);
    } else {
      // Sentinel re-points replicas but never sets masterauth: a pod that was a primary may lack it.
      await ensureMasterauth(ctx, pod, ctx.clusterPassword);
      if (followsUpstream(pod.snapshot, upstream)) followers.push(pod);
    }
  }
  const electableReplicas = await markElectableReplicas(ctx, pods, primary);
  return {
    primaryPod: primary.name,
    recordedPrimary: primary.name,
    replicasInSync,
    electableReplicas,
    followingReplicas: followers,
  };
}
