/**
 * admission.k8s.io/v1 AdmissionReview, as the API server sends and expects it — only the fields this webhook
 * reads or writes. https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/
 */

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";
export const ADMISSION_KIND = "AdmissionReview";

export type Operation = "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
export const OPERATIONS: readonly Operation[] = ["CREATE", "UPDATE", "DELETE", "CONNECT"];

/** group/version/kind or group/version/resource of the object under admission. */
export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface GroupVersionResource {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
}

/**
 * Who sent the request, as authenticated by the API server. Logged, and the subject of the SubjectAccessReviews
 * that check the user may read the Secrets they name (validation/secrets.ts).
 */
export interface UserInfo {
  readonly username?: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export interface AdmissionRequest {
  /** Identifies this admission call; the response must echo it. */
  readonly uid: string;
  readonly kind?: GroupVersionKind;
  readonly resource?: GroupVersionResource;
  readonly subResource?: string;
  /** Name of the object; empty on CREATE with generateName. */
  readonly name?: string;
  readonly namespace?: string;
  readonly operation: Operation;
  readonly userInfo?: UserInfo;
  /** The object after the change (CREATE, UPDATE), as raw JSON: fields this webhook does not know included. */
  readonly object?: unknown;
  /** The stored object before the change (UPDATE, DELETE). */
  readonly oldObject?: unknown;
  /** True for `--dry-run=server`: answered exactly like a real request (this webhook has no side effects). */
  readonly dryRun?: boolean;
}

/** A JSON Patch (RFC 6902) operation. */
export interface JsonPatchOperation {
  readonly op: "add" | "replace" | "remove";
  /** A JSON Pointer (RFC 6901): `~` and `/` in keys are escaped as `~0` and `~1`. */
  readonly path: string;
  readonly value?: unknown;
}

/** metav1.StatusCause: one field error of a denial. */
export interface StatusCause {
  readonly reason: string;
  readonly message: string;
  readonly field: string;
}

/** metav1.Status as carried by a denied AdmissionResponse. */
export interface Status {
  readonly status: "Failure";
  readonly code: number;
  readonly reason: "Invalid" | "BadRequest" | "InternalError";
  readonly message: string;
  readonly details?: {
    readonly name?: string;
    readonly group?: string;
    readonly kind?: string;
    readonly causes: readonly StatusCause[];
  };
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: Status;
  /** Base64 of a JSON Patch, only when the mutating endpoint changes something. */
  readonly patch?: string;
  readonly patchType?: "JSONPatch";
  /** Shown by kubectl as `Warning: …`; for risky but legal requests. */
  readonly warnings?: readonly string[];
}

export interface AdmissionReviewRequest {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: typeof ADMISSION_KIND;
  readonly request: AdmissionRequest;
}

export interface AdmissionReviewResponse {
  readonly apiVersion: typeof ADMISSION_API_VERSION;
  readonly kind: typeof ADMISSION_KIND;
  readonly response: AdmissionResponse;
}

/** What one admission endpoint decides about a request, before it is wrapped in the envelope. */
export type AdmissionOutcome =
  | {
      readonly allowed: true;
      readonly patch?: readonly JsonPatchOperation[];
      readonly warnings?: readonly string[];
    }
  | { readonly allowed: false; readonly status: Status; readonly warnings?: readonly string[] };
