/**
 * The Services of a RedisCluster: a headless one for the pods' names, one for the leader, one for the replicas.
 */
import type { IntOrString, V1Service } from "@kubernetes/client-node";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { REDIS_PORT } from "../../model/pods.ts";
import { CLUSTER_LABEL, ROLE_LABEL, ownedMetadata } from "./metadata.ts";

export const headlessServiceName = (cluster: string) => `${cluster}-headless`;
const leaderServiceName = (cluster: string) => `${cluster}-leader`;
const replicasServiceName = (cluster: string) => `${cluster}-replicas`;

function service(
  cluster: RedisCluster,
  name: string,
  selector: Record<string, string>,
  headless: boolean,
): V1Service {
  const targetPort: IntOrString = REDIS_PORT;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: ownedMetadata(cluster, name),
    spec: {
      selector,
      ports: [{ name: "redis", port: REDIS_PORT, targetPort }],
      ...(headless ? { clusterIP: "None", publishNotReadyAddresses: true } : {}),
    },
  };
}

export function servicesFor(cluster: RedisCluster): V1Service[] {
  const name = cluster.metadata?.name ?? "";
  return [
    service(cluster, headlessServiceName(name), { [CLUSTER_LABEL]: name }, true),
    service(cluster, leaderServiceName(name), { [CLUSTER_LABEL]: name, [ROLE_LABEL]: "primary" }, false),
    service(cluster, replicasServiceName(name), { [CLUSTER_LABEL]: name, [ROLE_LABEL]: "replica" }, false),
  ];
}
