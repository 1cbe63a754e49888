/**
 * SubjectAccessReview (authorization.k8s.io/v1), answered the way this sandbox authorizes: it enforces no RBAC
 * and every client is `kubernetes-admin` in `system:masters` (README: "Deliberately not implemented"). So, as
 * the real API server answers for that superuser group, a subject in `system:masters` may do anything; any
 * other subject gets no opinion from an authorizer, which the real API server reports as not allowed. The
 * webhook's SubjectAccessReviews ask about the AdmissionRequest's user, which here is always the admin.
 */
import { badRequest } from "./types.ts";

export const SUBJECT_ACCESS_REVIEW_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

const SUPERUSER_GROUP = "system:masters";

export function answerSubjectAccessReview(body: unknown): Record<string, unknown> {
  const review = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const spec = review.spec as { user?: unknown; groups?: unknown } | undefined;
  if (spec === undefined || (typeof spec.user !== "string" && !Array.isArray(spec.groups))) {
    throw badRequest("a SubjectAccessReview needs spec.user or spec.groups");
  }
  const groups = Array.isArray(spec.groups) ? spec.groups : [];
  const allowed = groups.includes(SUPERUSER_GROUP);
  return {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SubjectAccessReview",
    metadata: { creationTimestamp: null },
    spec: review.spec,
    status: allowed
      ? { allowed: true }
      : { allowed: false, reason: "the sandbox authorizes only system:masters (it enforces no RBAC)" },
  };
}
