/**
 * Who is who in a RedisCluster's set of pods: names, ordinals, the designated leader, role labels.
 */
import type { InstanceSnapshot } from "../redis/admin-port.ts";

/** The designated leader is always ordinal 0: a stable promotion target and a stable `-leader` endpoint. */
export const LEADER_ORDINAL = 0;
export const REDIS_PORT = 6379;

const podName = (cluster: string, ordinal: number): string => `${cluster}-${ordinal}`;
export const designatedLeaderName = (cluster: string): string => podName(cluster, LEADER_ORDINAL);

/** `dr-redis-2` → 2; undefined for names that are not `<cluster>-<n>`. */
export function ordinalOf(cluster: string, pod: string): number | undefined {
  const prefix = `${cluster}-`;
  if (!pod.startsWith(prefix)) return undefined;
  const rest = pod.slice(prefix.length);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

export type RoleLabel = "primary" | "replica";

/** The `redis.io/role` label: the designated leader is `primary` even while it replicates from the source. */
export const roleLabelFor = (ordinal: number): RoleLabel =>
  ordinal === LEADER_ORDINAL ? "primary" : "replica";

/** A Redis pod as the replication engine sees it: where to reach it and what it last said. */
export interface PodEndpoint {
  readonly name: string;
  readonly ordinal: number;
  readonly host: string;
  readonly port: number;
}

export interface ObservedPod extends PodEndpoint {
  /** Absent when the pod could not be asked; `error` then says why. */
  readonly snapshot?: InstanceSnapshot;
  readonly error?: string;
}

/** Where a pod can replicate from: an address and the password `masterauth` must hold for it. */
export interface Upstream {
  readonly host: string;
  readonly port: number;
}

/**
 * Pods a controller has just (re)started are parked as replicas of this address, where nothing listens.
 * A replica whose link is down refuses to serve SYNC (`-NOMASTERLINK`) and refuses writes, so a parked pod can
 * neither take writes nor hand its dataset — possibly empty after a restart — to the pods that follow it.
 * It leaves the parking spot only when the controller decides its role (see catch-up.ts for the checks).
 */
export const HOLD_UPSTREAM: Upstream = { host: "127.0.0.1", port: 1 };

export function followsUpstream(snapshot: InstanceSnapshot | undefined, upstream: Upstream): boolean {
  const master = snapshot?.replication.master;
  return (
    snapshot?.replication.role === "slave" && master?.host === upstream.host && master.port === upstream.port
  );
}

export const isHeld = (snapshot: InstanceSnapshot | undefined): boolean =>
  followsUpstream(snapshot, HOLD_UPSTREAM);

export const isPrimary = (snapshot: InstanceSnapshot | undefined): boolean =>
  snapshot?.replication.role === "master";

/** Linked and not in the middle of a full synchronisation. */
export function isAttachedTo(snapshot: InstanceSnapshot | undefined, upstream: Upstream): boolean {
  return (
    followsUpstream(snapshot, upstream) &&
    snapshot?.replication.master?.linkStatus === "up" &&
    snapshot.replication.master.syncInProgress === false
  );
}
