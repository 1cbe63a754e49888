/**
 * The SecretReader port on the real Kubernetes API: one `get` per lookup (the webhook's RBAC allows `get`
 * on Secrets and nothing else), returning key names only.
 */
import { ApiException, type CoreV1Api } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { SecretReadError, type SecretReader } from "../validation/secrets.ts";

export function kubeSecretReader(api: CoreV1Api, logger: Logger): SecretReader {
  return {
    async secretKeys(namespace, name) {
      let secret;
      try {
        secret = await api.readNamespacedSecret({ name, namespace });
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) return undefined;
        // The cause goes to the log (an ApiException's body is a Status, never the Secret); the user gets
        // only the gist.
        logger.warn({ err: error, namespace, name }, "could not get a Secret");
        if (error instanceof ApiException) {
          throw new SecretReadError(`the Kubernetes API answered ${error.code}`);
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
