/**
 * The SecretAccessReviewer port on the real Kubernetes API: one SubjectAccessReview per question, asking the
 * API server's own authorizers (RBAC, Node, webhooks…) whether the requesting user may `get` a Secret. The
 * webhook's RBAC allows `create` on subjectaccessreviews for this.
 */
import type { Logger } from "pino";
import { isRecord } from "../../kube-common/is-record.ts";
import type { UserInfo } from "../admission/types.ts";
import { SecretReadError, type SecretAccessReviewer } from "../validation/secrets.ts";
import { KubeApiError, type KubeApiClient } from "./api-client.ts";
import { LookupTimeout, SECRET_LOOKUP_TIMEOUT_MS, withTimeout } from "./secret-reader.ts";

/** An authorization.k8s.io/v1 SubjectAccessReview about one resource, as this webhook sends it. */
export interface SubjectAccessReview {
  readonly apiVersion: "authorization.k8s.io/v1";
  readonly kind: "SubjectAccessReview";
  readonly spec: {
    readonly user: string;
    readonly uid?: string;
    readonly groups?: string[];
    readonly extra?: Record<string, string[]>;
    readonly resourceAttributes: {
      readonly namespace: string;
      readonly verb: string;
      readonly group: string;
      readonly version: string;
      readonly resource: string;
      readonly name: string;
    };
  };
}

/** The answer's status, checked where it enters: `allowed` must be a boolean. */
interface ReviewStatus {
  readonly allowed: boolean;
  readonly denied: boolean;
  readonly evaluationError: string | undefined;
}

function reviewStatus(answer: unknown): ReviewStatus | undefined {
  const status = isRecord(answer) ? answer.status : undefined;
  if (!isRecord(status) || typeof status.allowed !== "boolean") return undefined;
  return {
    allowed: status.allowed,
    denied: status.denied === true,
    evaluationError: typeof status.evaluationError === "string" ? status.evaluationError : undefined,
  };
}

/** The review asked for `user` reading Secret `namespace/name`: exactly the AdmissionRequest's identity. */
export function secretAccessReview(user: UserInfo, namespace: string, name: string): SubjectAccessReview {
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

export function kubeAccessReviewer(
  api: KubeApiClient,
  logger: Logger,
  timeoutMs = SECRET_LOOKUP_TIMEOUT_MS,
): SecretAccessReviewer {
  return {
    async mayGetSecret(user, namespace, name) {
      const who = JSON.stringify(user.username ?? "");
      const asked = `whether user ${who} may get it`;
      const review = secretAccessReview(user, namespace, name);
      let answer: unknown;
      try {
        // The path is written out in the call, where the RBAC test reads it (test/manifests/rbac-usage.test.ts).
        answer = await withTimeout(
          (signal) => api.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", review, signal),
          timeoutMs,
        );
      } catch (error) {
        logger.warn({ err: error, namespace, name, user: user.username }, "a SubjectAccessReview failed");
        if (error instanceof KubeApiError) {
          throw new SecretReadError(`could not ask ${asked}: the Kubernetes API answered ${error.code}`);
        }
        if (error instanceof LookupTimeout) {
          throw new SecretReadError(
            `could not ask ${asked}: the Kubernetes API did not answer within ${timeoutMs}ms`,
          );
        }
        throw new SecretReadError(`could not ask ${asked}: the Kubernetes API could not be reached`);
      }
      const status = reviewStatus(answer);
      if (status === undefined) {
        logger.warn(
          { namespace, name, user: user.username },
          "a SubjectAccessReview was answered without a decision",
        );
        throw new SecretReadError(`could not ask ${asked}: the Kubernetes API answered without a decision`);
      }
      if (status.evaluationError) {
        // Partial failures (e.g. one authorizer webhook down) are logged; the decision stands as given.
        logger.warn(
          { namespace, name, user: user.username, evaluationError: status.evaluationError },
          "a SubjectAccessReview reported an evaluation error",
        );
      }
      return status.allowed && !status.denied;
    },
  };
}
