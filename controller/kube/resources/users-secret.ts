/**
 * The Secret of the cluster's Redis users.
 */
import type { V1Secret } from "@kubernetes/client-node";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { USERS_SECRET_KEYS, usersSecretName, type ClusterUsers } from "../../redis/users.ts";
import { ownedMetadata } from "./metadata.ts";

/**
 * The Secret holding the passwords of the cluster's Redis users (redis/users.ts), created by the controller
 * and owned by the RedisCluster (deleted with it). The pods mount it; nobody else needs it.
 */
export function usersSecretFor(cluster: RedisCluster, users: ClusterUsers): V1Secret {
  const name = cluster.metadata?.name ?? "";
  const encode = (value: string) => Buffer.from(value).toString("base64");
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: ownedMetadata(cluster, usersSecretName(name)),
    type: "Opaque",
    data: {
      [USERS_SECRET_KEYS.admin]: encode(users.admin),
      [USERS_SECRET_KEYS.replication]: encode(users.replication),
      [USERS_SECRET_KEYS.sentinel]: encode(users.sentinel),
    },
  };
}
