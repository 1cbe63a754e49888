/**
 * The PodDisruptionBudget of a RedisCluster's pods.
 */
import type { V1PodDisruptionBudget } from "@kubernetes/client-node";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { CLUSTER_LABEL, ownedMetadata } from "./metadata.ts";

/**
 * At most one Redis pod of the cluster voluntarily down at a time: a node drain (or a cluster upgrade)
 * evicts the pods one by one and waits until the evicted one is Ready again, so the other copies of the
 * data stay up — in a DR cluster, the copy you would promote. maxUnavailable rather than minAvailable so it
 * also fits `instances: 1`: there the one pod may be evicted (a single copy has no redundancy to keep, and a
 * budget that never allows an eviction would block every drain of its node); the budget is there already
 * when the cluster is scaled up, with no object to create or delete on scaling.
 * unhealthyPodEvictionPolicy AlwaysAllow: a pod that is not Ready (still loading its dataset, crash-looping)
 * may always be evicted — it serves nothing, its data stays on its volume — so a broken pod never blocks a
 * drain, while the healthy ones stay protected.
 */
export function podDisruptionBudgetFor(cluster: RedisCluster): V1PodDisruptionBudget {
  const name = cluster.metadata?.name ?? "";
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    // The StatefulSet's name: another kind, so no clash, and no suffix for the name's length bound.
    metadata: ownedMetadata(cluster, name),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: { [CLUSTER_LABEL]: name } },
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    },
  };
}
