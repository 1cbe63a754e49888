/**
 * Warnings for risky but legal requests (AdmissionResponse.warnings, printed by kubectl as `Warning: …`).
 * A warning rule sees the new object and, on UPDATE, the stored one.
 */
import {
  completedPromotionId,
  integerField,
  isReplicating,
  promoteRequested,
  replicationOf,
  sourceOf,
  stringField,
  type RedisCluster,
} from "./cluster.ts";

export type WarningRule = (cluster: RedisCluster, old?: RedisCluster) => string[];

function sourceDescription(cluster: RedisCluster): string {
  const source = sourceOf(cluster);
  const clusterName = stringField(source, "clusterName");
  const endpoint = `${stringField(source, "host") ?? "?"}:${integerField(source, "port") ?? 6379}`;
  return clusterName ? `${clusterName} (${endpoint})` : endpoint;
}

/** A cluster that starts replicating on an UPDATE has data of its own, which the full sync replaces. */
export const warnDataReplaced: WarningRule = (cluster, old) => {
  if (old === undefined || isReplicating(old) || !isReplicating(cluster)) return [];
  const discarded =
    completedPromotionId(old) !== undefined
      ? "every write made since the promotion is discarded"
      : "every key it holds now is discarded";
  return [
    `spec.replicaMode.enabled: this RedisCluster will replicate from ${sourceDescription(cluster)}: its data ` +
      `will be replaced by a full copy of the source's; ${discarded}`,
  ];
};

/** Promoting without a healthy link is what DR is for, but the writes the leader lacks are lost. */
export const warnPromotionWithoutSync: WarningRule = (cluster, old) => {
  if (old === undefined || promoteRequested(old) || !promoteRequested(cluster)) return [];
  const replication = replicationOf(old);
  const linkStatus = stringField(replication, "linkStatus");
  if (linkStatus === "Up") return [];
  const downSeconds = integerField(replication, "linkDownSeconds");
  const link =
    linkStatus === "Down"
      ? `the replication link is down${downSeconds !== undefined ? ` (for ${downSeconds}s)` : ""}`
      : linkStatus === "Syncing"
        ? "the leader never finished synchronising with the source (a full synchronisation is running)"
        : "the leader was never seen in sync with the source (link state unknown)";
  const lagBytes = integerField(replication, "lagBytes");
  const lag =
    lagBytes !== undefined
      ? `the last known lag is ${lagBytes} bytes behind the source: writes not yet replicated are lost`
      : "the lag is unknown: writes not yet replicated are lost";
  return [`spec.replicaMode.promote: promoting while ${link}; ${lag}`];
};
