/**
 * Warnings for risky but legal requests (AdmissionResponse.warnings, printed by kubectl as `Warning: …`).
 * A warning rule sees the new object and, on UPDATE, the stored one.
 */
import {
  completedPromotionId,
  integerField,
  isReplicating,
  promoteRequested,
  replicaModeOf,
  replicationOf,
  sourceOf,
  specOf,
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

export const NO_AUTH_SECRET_WARNING =
  "spec.authSecret: not set: any pod that reaches this cluster's Redis can read and write it without a password";

/**
 * Without authSecret the cluster's Redis requires no password (the reference always sets one). Legal — a
 * test cluster — but never what a DR cluster holding production data should be; said on every write.
 */
export const warnNoAuthSecret: WarningRule = (cluster) => {
  const authSecret = specOf(cluster)?.authSecret;
  const named =
    typeof authSecret === "object" &&
    authSecret !== null &&
    typeof (authSecret as { name?: unknown }).name === "string";
  return named ? [] : [NO_AUTH_SECRET_WARNING];
};

/** A cluster that starts replicating on an UPDATE has data of its own, which the full sync replaces. */
export const warnDataReplaced: WarningRule = (cluster, old) => {
  if (old === undefined || isReplicating(old) || !isReplicating(cluster)) return [];
  const replicaMode = replicaModeOf(cluster);
  if (replicaMode?.joinBy === "Handoff") {
    // Nothing is replaced: the primary role moves to the source, writes held until it caught up.
    const timeout = integerField(replicaMode, "handoffTimeoutSeconds") ?? 10;
    return [
      `spec.replicaMode.joinBy: the primary role will be handed over to ${sourceDescription(cluster)}; ` +
        `writes pause up to ${timeout}s`,
    ];
  }
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
  if (stringField(replication, "linkStatus") === "Up") return [];
  const lagBytes = integerField(replication, "lagBytes");
  const lag = lagBytes !== undefined ? `last known lag ${lagBytes} bytes` : "lag unknown";
  return [`spec.replicaMode.promote: ${linkDescription(replication)}; ${lag}: unreplicated writes are lost`];
};

/** The leader's link as status.replication last described it. */
function linkDescription(replication: Record<string, unknown> | undefined): string {
  switch (stringField(replication, "linkStatus")) {
    case "Down": {
      const downSeconds = integerField(replication, "linkDownSeconds");
      return `replication link down${downSeconds !== undefined ? ` for ${downSeconds}s` : ""}`;
    }
    case "Syncing":
      return "the first full sync from the source has not finished";
    // The controller reports Unknown when it could not ask the leader: the link may well be up.
    case "Unknown":
      return "the controller could not read the leader's link";
    default:
      return "the leader was never seen in sync with the source";
  }
}
