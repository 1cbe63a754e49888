/**
 * What every object a RedisCluster owns carries: its labels, its owner reference, and the hash that tells
 * whether a generated spec changed.
 */
import { createHash } from "node:crypto";
import type { V1OwnerReference } from "@kubernetes/client-node";
import { API_VERSION, KIND } from "../../../schemas/rediscluster.ts";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";

export const CLUSTER_LABEL = "redis.io/cluster";
export const ROLE_LABEL = "redis.io/role";
export const SPEC_HASH_ANNOTATION = "redis.io/spec-hash";

export function ownerReference(cluster: RedisCluster): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: cluster.metadata?.name ?? "",
    uid: cluster.metadata?.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

export const clusterLabels = (name: string) => ({
  [CLUSTER_LABEL]: name,
  "app.kubernetes.io/name": "redis",
  "app.kubernetes.io/instance": name,
  "app.kubernetes.io/managed-by": "redis-dr",
});

/** The metadata of an object named `name` that the RedisCluster owns, in its namespace. */
export function ownedMetadata(cluster: RedisCluster, name: string) {
  return {
    name,
    namespace: cluster.metadata?.namespace,
    labels: clusterLabels(cluster.metadata?.name ?? ""),
    ownerReferences: [ownerReference(cluster)],
  };
}

export function specHash(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}
