/** Kubernetes set-up shared by the benchmarks. */
import type { CoreV1Api } from "@kubernetes/client-node";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";

/** Creates `namespace` and, in it, one Secret per entry holding the key `password`. */
export async function createNamespaceWithPasswords(
  core: CoreV1Api,
  namespace: string,
  passwords: Readonly<Record<string, string>>,
): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  for (const [name, password] of Object.entries(passwords)) {
    await core.createNamespacedSecret({ namespace, body: { metadata: { name }, stringData: { password } } });
  }
}

/**
 * A DR RedisCluster replicating from `source` (clusterName `prod`), with the Secrets the benchmarks create
 * beside it: `dr-auth` (its own password) and `prod-auth` (the source's).
 */
export function replicaClusterManifest(
  name: string,
  namespace: string,
  options: {
    readonly instances: number;
    readonly topology: "direct" | "cascade";
    readonly source: { readonly host: string; readonly port: number };
  },
): RedisCluster {
  return {
    apiVersion: "redis.io/v1",
    kind: "RedisCluster",
    metadata: { name, namespace },
    spec: {
      instances: options.instances,
      storage: { size: "1Gi" },
      authSecret: { name: "dr-auth" },
      replicaMode: {
        enabled: true,
        topology: options.topology,
        source: { ...options.source, clusterName: "prod", authSecretName: "prod-auth" },
      },
    },
  };
}
