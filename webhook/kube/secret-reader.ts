/**
 * The SecretReader port on the real Kubernetes API: one `get` per lookup (the webhook's RBAC allows `get`
 * on Secrets and nothing else), returning key names only.
 */
import type { Logger } from "pino";
import { isRecord } from "../../kube-common/is-record.ts";
import { SecretReadError, type SecretReader } from "../validation/secrets.ts";
import { KubeApiError, type KubeApiClient } from "./api-client.ts";

/** Well inside the API server's admission timeout (5 s in our webhook configurations). */
export const SECRET_LOOKUP_TIMEOUT_MS = 3_000;

export class LookupTimeout extends Error {
  override readonly name = "LookupTimeout";
}

/**
 * `work`'s result, or LookupTimeout after `ms`. The signal given to `work` is aborted then, so the request
 * stops holding one of the client's pooled connections.
 */
export async function withTimeout<T>(work: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new LookupTimeout(`no answer within ${ms}ms`));
      controller.abort();
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A value less one trailing newline is not empty: the rule of the controller and the pods (secretText). */
const nonEmpty = (base64: string) =>
  Buffer.from(base64, "base64")
    .toString("utf8")
    .replace(/\r?\n$/, "") !== "";

/** The keys of a Secret answered by the API server that hold a non-empty value; nothing else is kept. */
function nonEmptyKeys(secret: Record<string, unknown>): Set<string> {
  const keys = new Set<string>();
  const { data, stringData } = secret;
  if (isRecord(data)) {
    for (const [key, value] of Object.entries(data))
      if (typeof value === "string" && nonEmpty(value)) keys.add(key);
  }
  if (isRecord(stringData)) {
    for (const [key, value] of Object.entries(stringData))
      if (typeof value === "string" && value) keys.add(key);
  }
  return keys;
}

export function kubeSecretReader(
  api: KubeApiClient,
  logger: Logger,
  timeoutMs = SECRET_LOOKUP_TIMEOUT_MS,
): SecretReader {
  return {
    async secretKeys(namespace, name) {
      let secret: unknown;
      try {
        // The names are the user's: encoded. The path is written out in the call, where the RBAC test reads it
        // (test/manifests/rbac-usage.test.ts).
        secret = await withTimeout(
          (signal) =>
            api.get(
              `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
              signal,
            ),
          timeoutMs,
        );
      } catch (error) {
        if (error instanceof KubeApiError && error.code === 404) return undefined;
        // The cause goes to the log (a KubeApiError holds the Status's reason and message, never the
        // Secret); the user gets only the gist.
        logger.warn({ err: error, namespace, name }, "could not get a Secret");
        if (error instanceof KubeApiError) {
          throw new SecretReadError(`the Kubernetes API answered ${error.code}`);
        }
        if (error instanceof LookupTimeout) {
          throw new SecretReadError(`the Kubernetes API did not answer within ${timeoutMs}ms`);
        }
        throw new SecretReadError("the Kubernetes API could not be reached");
      }
      if (!isRecord(secret) || secret.kind !== "Secret") {
        logger.warn({ namespace, name }, "the Kubernetes API answered a Secret get with something else");
        throw new SecretReadError("the Kubernetes API did not answer with a Secret");
      }
      return nonEmptyKeys(secret);
    },
  };
}
