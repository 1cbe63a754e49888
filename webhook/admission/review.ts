/**
 * The AdmissionReview envelope: checking what arrives, and building what goes back. Pure functions.
 */
import {
  ADMISSION_API_VERSION,
  ADMISSION_KIND,
  OPERATIONS,
  type AdmissionOutcome,
  type AdmissionRequest,
  type AdmissionReviewRequest,
  type AdmissionReviewResponse,
  type Operation,
  type Status,
} from "./types.ts";
import {
  MAX_REPORTED_ERRORS,
  errorBody,
  formatFieldErrors,
  type FieldError,
} from "../../kube-common/field-errors.ts";
import { GROUP, KIND } from "../../schemas/rediscluster.ts";
import { isRecord } from "../../kube-common/is-record.ts";

export type ParsedReview =
  | { readonly ok: true; readonly review: AdmissionReviewRequest }
  | { readonly ok: false; readonly message: string };

const optional = (value: unknown, type: "string" | "boolean" | "object"): boolean =>
  value === undefined || (type === "object" ? isRecord(value) : typeof value === type);

/**
 * Checks that `body` is an AdmissionReview v1 with a request this webhook can answer. A body that is not
 * gets an HTTP 400 with the returned message: without a uid there is nothing to answer to.
 */
export function parseAdmissionReview(body: unknown): ParsedReview {
  const fail = (message: string): ParsedReview => ({ ok: false, message });
  if (!isRecord(body)) return fail("the body must be a JSON object: an admission.k8s.io/v1 AdmissionReview");
  if (body.apiVersion !== ADMISSION_API_VERSION || body.kind !== ADMISSION_KIND) {
    return fail(
      `expected apiVersion "${ADMISSION_API_VERSION}" and kind "${ADMISSION_KIND}", ` +
        `got apiVersion ${describe(body.apiVersion)} and kind ${describe(body.kind)}`,
    );
  }
  const request = body.request;
  if (!isRecord(request)) return fail("the AdmissionReview has no request object");
  if (typeof request.uid !== "string" || request.uid === "") {
    return fail("request.uid is missing: it must be a non-empty string");
  }
  if (typeof request.operation !== "string" || !OPERATIONS.includes(request.operation as Operation)) {
    return fail(
      `request.operation must be one of ${OPERATIONS.join(", ")}, got ${describe(request.operation)}`,
    );
  }
  for (const [field, type] of [
    ["name", "string"],
    ["namespace", "string"],
    ["subResource", "string"],
    ["dryRun", "boolean"],
    ["kind", "object"],
    ["resource", "object"],
    ["userInfo", "object"],
  ] as const) {
    if (!optional(request[field], type)) return fail(`request.${field} must be a ${type}`);
  }
  return { ok: true, review: body as unknown as AdmissionReviewRequest };
}

/** A short, safe description of an unexpected value for an error message (never the whole value). */
function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 64 ? `${value.slice(0, 61)}...` : value);
  }
  if (value === null || typeof value === "number" || typeof value === "boolean") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}

/** Wraps an outcome in the response envelope, echoing the request's uid. */
export function reviewResponse(
  request: AdmissionRequest,
  outcome: AdmissionOutcome,
): AdmissionReviewResponse {
  const warnings =
    outcome.warnings !== undefined && outcome.warnings.length > 0 ? outcome.warnings : undefined;
  const response = outcome.allowed
    ? {
        uid: request.uid,
        allowed: true,
        ...(outcome.patch !== undefined && outcome.patch.length > 0
          ? {
              patchType: "JSONPatch" as const,
              patch: Buffer.from(JSON.stringify(outcome.patch)).toString("base64"),
            }
          : {}),
        ...(warnings ? { warnings } : {}),
      }
    : { uid: request.uid, allowed: false, status: outcome.status, ...(warnings ? { warnings } : {}) };
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

/**
 * A denial shaped like the API server's own validation errors: 422 Invalid, one cause per field error, at most
 * MAX_REPORTED_ERRORS of them (the message then ends with how many more there were).
 */
export function invalidStatus(name: string, errors: readonly FieldError[]): Status {
  return {
    status: "Failure",
    code: 422,
    reason: "Invalid",
    message: `${KIND}.${GROUP} ${JSON.stringify(name)} is invalid: ${formatFieldErrors(errors)}`,
    details: {
      name,
      group: GROUP,
      kind: KIND,
      causes: errors
        .slice(0, MAX_REPORTED_ERRORS)
        .map((error) => ({ reason: error.type, message: errorBody(error), field: error.field })),
    },
  };
}

export function badRequestStatus(message: string): Status {
  return { status: "Failure", code: 400, reason: "BadRequest", message };
}

/** What the API server is told when something unexpected broke: no internals, a pointer to the logs. */
export function internalErrorStatus(uid: string): Status {
  return {
    status: "Failure",
    code: 500,
    reason: "InternalError",
    message: `the redis-dr webhook failed unexpectedly while admitting this request; see its logs (uid ${uid})`,
  };
}
