/**
 * What the cluster should be doing, from the user's spec and the controller's own record in status.
 * The spec says what the user wants; status says what already happened (a completed promotion cannot be
 * undone by merely flipping `promote` back: that needs the demotion token).
 */
import type { RedisClusterSpec, RedisClusterStatus } from "../../schemas/generated/rediscluster.ts";

export interface SourceRef {
  readonly host: string;
  readonly port: number;
  readonly clusterName: string;
  readonly authSecretName?: string | undefined;
}

export type Topology = "direct" | "cascade";

/** The DR leader's address as the source's region dials it, announced while it awaits a hand-off. */
export interface HandoffAddress {
  readonly host: string;
  readonly port: number;
}

/** `joinBy: Handoff`: a primary hands its role over to the source (docs/switchover.md §2). */
export interface JoinByHandoff {
  readonly timeoutMs: number;
  /** spec.replicaMode.handoffAttempt (0 when unset): one attempt per value. */
  readonly attempt: number;
}

export type ClusterIntent =
  /**
   * Replica mode: every pod (direct) or the leader (cascade) replicates from the source. With `handoffAddress`
   * (promoteBy: Handoff, the hand-off not seen yet) the leader announces that address and accepts being made
   * the primary by the source's FAILOVER; with `join` (joinBy: Handoff) a leader that is a primary hands its
   * role over to the source instead of copying it.
   */
  | {
      readonly kind: "replicate";
      readonly source: SourceRef;
      readonly topology: Topology;
      readonly handoffAddress?: HandoffAddress | undefined;
      readonly join?: JoinByHandoff | undefined;
    }
  /** Promotion requested, in progress or completed. */
  | { readonly kind: "promote"; readonly source: SourceRef }
  /** A completed promotion is reverted with the right token: discard the new history, replicate again. */
  | {
      readonly kind: "demote";
      readonly source: SourceRef;
      readonly topology: Topology;
      readonly replicationId: string;
      /** joinBy: Handoff: the promoted leader hands its role over to the source; nothing is discarded. */
      readonly join?: JoinByHandoff | undefined;
    }
  /** A revert of a completed promotion without the right token: keep the promoted cluster as is. */
  | { readonly kind: "demotion-refused"; readonly source: SourceRef; readonly replicationId: string }
  /** No replica mode: the leader is the primary, the others replicate from it. */
  | { readonly kind: "standalone" }
  /** No replica mode, `mode: sentinel`: Redis Sentinel elects the primary; the controller follows it. */
  | { readonly kind: "sentinel" };

function sourceOf(spec: RedisClusterSpec): SourceRef | undefined {
  const source = spec.replicaMode?.source;
  if (source === undefined) return undefined;
  return {
    host: source.host,
    port: source.port ?? 6379,
    // The reference uses the cluster name in messages; fall back to the endpoint when it is not given.
    clusterName: source.clusterName ?? source.host,
    authSecretName: source.authSecretName,
  };
}

export function decideIntent(spec: RedisClusterSpec, status: RedisClusterStatus | undefined): ClusterIntent {
  const replicaMode = spec.replicaMode;
  const source = sourceOf(spec);
  if (replicaMode?.enabled !== true || source === undefined) {
    return spec.mode === "sentinel" ? { kind: "sentinel" } : { kind: "standalone" };
  }
  const topology = replicaMode.topology ?? "direct";
  if (replicaMode.promote === true) {
    // promoteBy: Handoff keeps replicating until the hand-off is seen in Redis and recorded (phase set).
    const address = replicaMode.handoffAddress;
    if (
      replicaMode.promoteBy === "Handoff" &&
      address !== undefined &&
      (status?.promotion?.phase === undefined || status.promotion.phase === "AwaitingHandoff")
    ) {
      return {
        kind: "replicate",
        source,
        topology,
        handoffAddress: { host: address.host, port: address.port ?? 6379 },
      };
    }
    return { kind: "promote", source };
  }
  const replicationId = status?.promotion?.replicationId;
  const join =
    replicaMode.joinBy === "Handoff"
      ? {
          timeoutMs: (replicaMode.handoffTimeoutSeconds ?? 10) * 1000,
          attempt: replicaMode.handoffAttempt ?? 0,
        }
      : undefined;
  if (replicationId === undefined || replicationId === "") {
    return join === undefined
      ? { kind: "replicate", source, topology }
      : { kind: "replicate", source, topology, join };
  }
  if (replicaMode.demotionToken === replicationId) {
    return join === undefined
      ? { kind: "demote", source, topology, replicationId }
      : { kind: "demote", source, topology, replicationId, join };
  }
  return { kind: "demotion-refused", source, replicationId };
}

/**
 * Sentinel runs the cluster's failover: a `mode: sentinel` cluster without replica mode, or a promoted one
 * (replica mode with promote, promotion Completed). Never while the cluster replicates from its source, is
 * being promoted or demoted: then the controller drives every pod's role.
 */
export function sentinelManaged(
  intent: ClusterIntent,
  sentinelMode: boolean,
  promotionPhase: string | undefined,
): boolean {
  if (intent.kind === "sentinel") return true;
  if (!sentinelMode) return false;
  return (intent.kind === "promote" || intent.kind === "demotion-refused") && promotionPhase === "Completed";
}

export const endpointText = (source: SourceRef): string => `${source.host}:${source.port}`;
