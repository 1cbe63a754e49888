/**
 * The SecretReader port on the real Kubernetes API: one `get` per lookup (the webhook's RBAC allows `get`
 * on Secrets and nothing else), returning key names only.
 */
import { ApiException, type CoreV1Api, type V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { SecretReadError, type SecretReader } from "../validation/secrets.ts";

/** Well inside the API server's admission timeout (5 s in our webhook configurations). */
export const SECRET_LOOKUP_TIMEOUT_MS = 3_000;

export class LookupTimeout extends Error {
  override readonly name = "LookupTimeout";
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new LookupTimeout(`no answer within ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A pooled keep-alive connection can be closed by the API server just as it is reused; the GET never reached
 * the server, so it is retried once on a fresh connection.
 */
export const isStaleConnection = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ECONNRESET";

async function getSecret(api: CoreV1Api, namespace: string, name: string): Promise<V1Secret> {
  try {
    return await api.readNamespacedSecret({ name, namespace });
  } catch (error) {
    if (!isStaleConnection(error)) throw error;
    return api.readNamespacedSecret({ name, namespace });
  }
}

/** A value less one trailing newline is not empty: the rule of the controller and the pods (secretText). */
const nonEmpty = (base64: string) =>
  Buffer.from(base64, "base64")
    .toString("utf8")
    .replace(/\r?\n$/, "") !== "";

export function kubeSecretReader(
  api: CoreV1Api,
  logger: Logger,
  timeoutMs = SECRET_LOOKUP_TIMEOUT_MS,
): SecretReader {
  return {
    async secretKeys(namespace, name) {
      let secret: V1Secret;
      try {
        secret = await withTimeout(getSecret(api, namespace, name), timeoutMs);
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) return undefined;
        // The cause goes to the log (an ApiException's body is a Status, never the Secret); the user gets
        // only the gist.
        logger.warn({ err: error, namespace, name }, "could not get a Secret");
        if (error instanceof ApiException) {
          throw new SecretReadError(`the Kubernetes API answered ${error.code}`);
        }
        if (error instanceof LookupTimeout) {
          throw new SecretReadError(`the Kubernetes API did not answer within ${timeoutMs}ms`);
        }
        throw new SecretReadError("the Kubernetes API could not be reached");
      }
      const keys = new Set<string>();
      for (const [key, value] of Object.entries(secret.data ?? {})) if (nonEmpty(value)) keys.add(key);
      for (const [key, value] of Object.entries(secret.stringData ?? {})) if (value) keys.add(key);
      return keys;
    },
  };
}
