/**
 * Field errors shaped like Kubernetes' own (k8s.io/apimachinery/pkg/util/validation/field), so users read
 * one style of message whether the CRD schema, a CEL rule or the webhook refused their request:
 *   spec.replicaMode.source.port: Invalid value: 70000: must be between 1 and 65535
 */
import type { FieldPath } from "./field-path.ts";

export type FieldErrorType =
  | "FieldValueRequired"
  | "FieldValueInvalid"
  | "FieldValueNotSupported"
  | "FieldValueForbidden"
  | "FieldValueTooLong"
  | "FieldValueNotFound"
  | "InternalError";

export interface FieldError {
  readonly type: FieldErrorType;
  /** Dotted path of the field, e.g. `spec.replicaMode.source.port`. */
  readonly field: string;
  /** The offending value, printed for Invalid, NotSupported and NotFound errors. */
  readonly badValue?: unknown;
  readonly detail: string;
}

export const required = (path: FieldPath, detail = ""): FieldError => ({
  type: "FieldValueRequired",
  field: path.toString(),
  detail,
});

export const invalid = (path: FieldPath, badValue: unknown, detail: string): FieldError => ({
  type: "FieldValueInvalid",
  field: path.toString(),
  badValue,
  detail,
});

export const notSupported = (
  path: FieldPath,
  badValue: unknown,
  supported: readonly string[],
): FieldError => ({
  type: "FieldValueNotSupported",
  field: path.toString(),
  badValue,
  detail: `supported values: ${supported.map((v) => JSON.stringify(v)).join(", ")}`,
});

export const forbidden = (path: FieldPath, detail: string): FieldError => ({
  type: "FieldValueForbidden",
  field: path.toString(),
  detail,
});

export const tooLong = (path: FieldPath, maxLength: number): FieldError => ({
  type: "FieldValueTooLong",
  field: path.toString(),
  detail: `may not be more than ${maxLength} bytes`,
});

export const notFound = (path: FieldPath, badValue: unknown, detail = ""): FieldError => ({
  type: "FieldValueNotFound",
  field: path.toString(),
  badValue,
  detail,
});

/** Something prevented checking the field (e.g. the API server could not be asked); not the user's fault. */
export const internalError = (path: FieldPath, detail: string): FieldError => ({
  type: "InternalError",
  field: path.toString(),
  detail,
});

const TYPE_TEXT: Readonly<Record<FieldErrorType, string>> = {
  FieldValueRequired: "Required value",
  FieldValueInvalid: "Invalid value",
  FieldValueNotSupported: "Unsupported value",
  FieldValueForbidden: "Forbidden",
  FieldValueTooLong: "Too long",
  FieldValueNotFound: "Not found",
  InternalError: "Internal error",
};

const SHOWS_VALUE: ReadonlySet<FieldErrorType> = new Set([
  "FieldValueInvalid",
  "FieldValueNotSupported",
  "FieldValueNotFound",
]);

/** Prints a value the way Kubernetes does: strings quoted, numbers and booleans bare, the rest as JSON. */
export function formatValue(value: unknown): string {
  if (value === undefined) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 200 ? `${json.slice(0, 197)}...` : json;
}

/** The part after the field path: `Invalid value: 70000: must be between 1 and 65535`. */
export function errorBody(error: FieldError): string {
  let body = TYPE_TEXT[error.type];
  if (SHOWS_VALUE.has(error.type)) body += `: ${formatValue(error.badValue)}`;
  if (error.detail !== "") body += `: ${error.detail}`;
  return body;
}

export function formatFieldError(error: FieldError): string {
  return `${error.field}: ${errorBody(error)}`;
}

/** Joins several errors like Kubernetes' aggregate: one line, or a bracketed list. */
export function formatFieldErrors(errors: readonly FieldError[]): string {
  const lines = errors.map(formatFieldError);
  return lines.length === 1 ? (lines[0] ?? "") : `[${lines.join(", ")}]`;
}
