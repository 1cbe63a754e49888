/** Kubernetes set-up shared by the benchmarks. */
import type { CoreV1Api } from "@kubernetes/client-node";

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
