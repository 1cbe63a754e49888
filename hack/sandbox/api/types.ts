/**
 * The object and error shapes the sandbox API server speaks: Kubernetes objects as plain JSON, and
 * `metav1.Status` errors with the same reasons, codes and messages the real API server returns.
 */
import { aggregate, errorBody, goQuote, type FieldError } from "./field-errors.ts";

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: unknown[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export type JsonObject = Record<string, unknown>;

export const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[] };
  code: number;
}

/** An error the API server answers with a `Status` body and its HTTP code. */
export class ApiError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
    this.name = "ApiError";
  }

  get code(): number {
    return this.status.code;
  }

  static of(code: number, reason: string, message: string, details?: Status["details"]): ApiError {
    return new ApiError({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    });
  }
}

/** `secrets` or `redisclusters.redis.io`: how Kubernetes names a resource in messages. */
export const qualifiedResource = (resource: string, group: string): string =>
  group === "" ? resource : `${resource}.${group}`;

export const notFound = (resource: string, group: string, name: string): ApiError =>
  ApiError.of(404, "NotFound", `${qualifiedResource(resource, group)} "${name}" not found`, {
    name,
    group,
    kind: resource,
  });

export const alreadyExists = (resource: string, group: string, name: string): ApiError =>
  ApiError.of(409, "AlreadyExists", `${qualifiedResource(resource, group)} "${name}" already exists`, {
    name,
    group,
    kind: resource,
  });

export const conflict = (resource: string, group: string, name: string, why: string): ApiError =>
  ApiError.of(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(resource, group)} "${name}": ${why}`,
    { name, group, kind: resource },
  );

export const OBJECT_MODIFIED =
  "the object has been modified; please apply your changes to the latest version and try again";

export const badRequest = (message: string): ApiError => ApiError.of(400, "BadRequest", message);

export const methodNotSupported = (resource: string, group: string, verb: string): ApiError =>
  ApiError.of(
    405,
    "MethodNotAllowed",
    `${verb} is not supported on resources of kind "${qualifiedResource(resource, group)}"`,
    { group, kind: resource },
  );

export const internalError = (message: string): ApiError =>
  ApiError.of(500, "InternalError", `Internal error occurred: ${message}`, {
    causes: [{ reason: "", message }],
  });

export const gone = (message: string): ApiError => ApiError.of(410, "Expired", message);

/**
 * 422 Invalid (errors.NewInvalid): `RedisCluster.redis.io "name" is invalid: [field: body, ...]`, one cause
 * per error. `qualifiedKind` is usually the kind and group (`RedisCluster`, `redis.io`); some checks of the
 * generic registry name the resource instead (`redisclusters`).
 */
export function invalidObject(
  kind: string,
  group: string,
  name: string,
  errors: readonly FieldError[],
): ApiError {
  const qualifiedKind = group === "" ? kind : `${kind}.${group}`;
  const message =
    errors.length === 0
      ? `${qualifiedKind} ${goQuote(name)} is invalid`
      : `${qualifiedKind} ${goQuote(name)} is invalid: ${aggregate(errors)}`;
  return ApiError.of(422, "Invalid", message, {
    // StatusDetails leaves an empty name out.
    ...(name === "" ? {} : { name }),
    group,
    kind,
    causes: errors.map((e) => ({ reason: e.type, message: errorBody(e), field: e.field })),
  });
}

export const clone = <T>(value: T): T => structuredClone(value);
