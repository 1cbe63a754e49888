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
  const lost =
    completedPromotionId(old) !== undefined
      ? "writes since the promotion are lost"
      : "keys written here are lost";
  return [
    `spec.replicaMode.enabled: data will be replaced by a full copy of ${sourceDescription(cluster)}; ${lost}`,
  ];
};

/**
 * Promoting without a healthy link is what DR is for, but the writes the leader lacks are lost. Kept short:
 * Kubernetes asks for warnings under 120 characters and may truncate them past 256.
 */
export const warnPromotionWithoutSync: WarningRule = (cluster, old) => {
  if (old === undefined || promoteRequested(old) || !promoteRequested(cluster)) return [];
  const replication = replicationOf(old);
  const linkStatus = stringField(replication, "linkStatus");
  if (linkStatus === "Up") return [];
  const downSeconds = integerField(replication, "linkDownSeconds");
  const link =
    linkStatus === "Down"
      ? `replication link down${downSeconds !== undefined ? ` for ${downSeconds}s` : ""}`
      : linkStatus === "Syncing"
        ? "the first full sync from the source has not finished"
        : "the leader was never seen in sync with the source";
  const lagBytes = integerField(replication, "lagBytes");
  const lag = lagBytes !== undefined ? `last known lag ${lagBytes} bytes` : "lag unknown";
  return [`spec.replicaMode.promote: ${link}; ${lag}: unreplicated writes are lost`];
};
