/**
 * The SecretAccessReviewer port on the real Kubernetes API: one SubjectAccessReview per question, asking the
 * API server's own authorizers (RBAC, Node, webhooks…) whether the requesting user may `get` a Secret. The
 * webhook's RBAC allows `create` on subjectaccessreviews for this.
 */
import { ApiException, type AuthorizationV1Api, type V1SubjectAccessReview } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { UserInfo } from "../admission/types.ts";
import { SecretReadError, type SecretAccessReviewer } from "../validation/secrets.ts";
import { LookupTimeout, SECRET_LOOKUP_TIMEOUT_MS, isStaleConnection, withTimeout } from "./secret-reader.ts";

/** The review asked for `user` reading Secret `namespace/name`: exactly the AdmissionRequest's identity. */
export function secretAccessReview(user: UserInfo, namespace: string, name: string): V1SubjectAccessReview {
  const extra =
    user.extra === undefined
      ? undefined
      : Object.fromEntries(Object.entries(user.extra).map(([key, values]) => [key, [...values]]));
  return {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SubjectAccessReview",
    spec: {
      user: user.username ?? "",
      ...(user.uid !== undefined ? { uid: user.uid } : {}),
      ...(user.groups !== undefined ? { groups: [...user.groups] } : {}),
      ...(extra !== undefined ? { extra } : {}),
      resourceAttributes: { namespace, verb: "get", group: "", version: "v1", resource: "secrets", name },
    },
  };
}

async function create(api: AuthorizationV1Api, body: V1SubjectAccessReview): Promise<V1SubjectAccessReview> {
  try {
    return await api.createSubjectAccessReview({ body });
  } catch (error) {
    if (!isStaleConnection(error)) throw error;
    return api.createSubjectAccessReview({ body });
  }
}

export function kubeAccessReviewer(
  api: AuthorizationV1Api,
  logger: Logger,
  timeoutMs = SECRET_LOOKUP_TIMEOUT_MS,
): SecretAccessReviewer {
  return {
    async mayGetSecret(user, namespace, name) {
      const who = JSON.stringify(user.username ?? "");
      let review: V1SubjectAccessReview;
      try {
        review = await withTimeout(create(api, secretAccessReview(user, namespace, name)), timeoutMs);
      } catch (error) {
        logger.warn({ err: error, namespace, name, user: user.username }, "a SubjectAccessReview failed");
        const asked = `whether user ${who} may get it`;
        if (error instanceof ApiException) {
          throw new SecretReadError(`could not ask ${asked}: the Kubernetes API answered ${error.code}`);
        }
        if (error instanceof LookupTimeout) {
          throw new SecretReadError(
            `could not ask ${asked}: the Kubernetes API did not answer within ${timeoutMs}ms`,
          );
        }
        throw new SecretReadError(`could not ask ${asked}: the Kubernetes API could not be reached`);
      }
      const status = review.status;
      if (status?.evaluationError) {
        // Partial failures (e.g. one authorizer webhook down) are logged; the decision stands as given.
        logger.warn(
          { namespace, name, user: user.username, evaluationError: status.evaluationError },
          "a SubjectAccessReview reported an evaluation error",
        );
      }
      return status?.allowed === true && status.denied !== true;
    },
  };
}
