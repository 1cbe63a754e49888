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

export type ClusterIntent =
  /** Replica mode: every pod (direct) or the leader (cascade) replicates from the source. */
  | { readonly kind: "replicate"; readonly source: SourceRef; readonly topology: Topology }
  /** Promotion requested, in progress or completed. */
  | { readonly kind: "promote"; readonly source: SourceRef }
  /** A completed promotion is reverted with the right token: discard the new history, replicate again. */
  | {
      readonly kind: "demote";
      readonly source: SourceRef;
      readonly topology: Topology;
      readonly replicationId: string;
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
  if (replicaMode.promote === true) return { kind: "promote", source };
  const topology = replicaMode.topology ?? "direct";
  const replicationId = status?.promotion?.replicationId;
  if (replicationId === undefined || replicationId === "") return { kind: "replicate", source, topology };
  if (replicaMode.demotionToken === replicationId) return { kind: "demote", source, topology, replicationId };
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
