/**
 * The SecretReader port on the real Kubernetes API: one `get` per lookup (the webhook's RBAC allows `get`
 * on Secrets and nothing else), returning key names only.
 */
import { ApiException, type CoreV1Api } from "@kubernetes/client-node";
import { SecretReadError, type SecretReader } from "../validation/secrets.ts";

export function kubeSecretReader(api: CoreV1Api): SecretReader {
  return {
    async secretKeys(namespace, name) {
      let secret;
      try {
        secret = await api.readNamespacedSecret({ name, namespace });
      } catch (error) {
        if (error instanceof ApiException) {
          if (error.code === 404) return undefined;
          // Only the code: the body of an error answer is not ours to repeat.
          throw new SecretReadError(`the Kubernetes API answered ${error.code}`, { cause: error.code });
        }
        throw new SecretReadError("the Kubernetes API could not be reached");
      }
      const keys = new Set<string>();
      for (const [key, value] of Object.entries(secret.data ?? {})) if (value) keys.add(key);
      for (const [key, value] of Object.entries(secret.stringData ?? {})) if (value) keys.add(key);
      return keys;
    },
  };
}
