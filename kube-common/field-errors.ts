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
  | "FieldValueTooMany"
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

/** A map or list with more entries than its schema allows, printed like Kubernetes' field.TooMany. */
export const tooMany = (path: FieldPath, actual: number, max: number): FieldError => ({
  type: "FieldValueTooMany",
  field: path.toString(),
  badValue: actual,
  detail: `must have at most ${max} ${max === 1 ? "item" : "items"}`,
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
  FieldValueTooMany: "Too many",
  FieldValueNotFound: "Not found",
  InternalError: "Internal error",
};

const SHOWS_VALUE: ReadonlySet<FieldErrorType> = new Set([
  "FieldValueInvalid",
  "FieldValueTooMany",
  "FieldValueNotSupported",
  "FieldValueNotFound",
]);

const MAX_VALUE_LENGTH = 200;

/**
 * JSON of `value`, cut after about `budget` characters: the work is bounded by the budget, not by the value,
 * which may be a huge map or nested thousands of levels deep (JSON.stringify would overflow the stack).
 */
function boundedJson(value: unknown, budget: number): string {
  let out = "";
  const write = (text: string) => {
    out += text;
    return out.length <= budget;
  };
  const visit = (v: unknown): boolean => {
    if (out.length > budget) return false;
    if (v === null || typeof v !== "object") {
      return write(JSON.stringify(v) ?? "null");
    }
    if (Array.isArray(v)) {
      if (!write("[")) return false;
      for (let i = 0; i < v.length; i++) {
        if ((i > 0 && !write(",")) || !visit(v[i])) return false;
      }
      return write("]");
    }
    if (!write("{")) return false;
    let first = true;
    for (const key of Object.keys(v)) {
      if ((!first && !write(",")) || !write(`${JSON.stringify(key)}:`)) return false;
      first = false;
      if (!visit((v as Record<string, unknown>)[key])) return false;
    }
    return write("}");
  };
  // Each level writes at least one character, so the budget also bounds the recursion depth.
  visit(value);
  return out;
}

/** Prints a value the way Kubernetes does: strings quoted, numbers and booleans bare, the rest as JSON. */
function formatValue(value: unknown): string {
  if (value === undefined) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const json = boundedJson(value, MAX_VALUE_LENGTH);
  return json.length > MAX_VALUE_LENGTH ? `${json.slice(0, MAX_VALUE_LENGTH - 3)}...` : json;
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

/**
 * At most this many field errors are reported in one answer: a hostile object with 32k invalid entries gets
 * the first 100 and a count of the rest, not a 7 MB answer.
 */
export const MAX_REPORTED_ERRORS = 100;

/**
 * What stands for the errors past the first MAX_REPORTED_ERRORS, in the words kube-apiserver uses when it cuts
 * a list of errors short (its LIST of corrupt objects: "too many errors, the list is truncated"), with the
 * count of those left out.
 */
const truncationNote = (omitted: number): string =>
  `too many errors, the list is truncated: ${omitted} more not shown`;

/** Joins several errors like Kubernetes' aggregate: one line, or a bracketed list; capped (see above). */
export function formatFieldErrors(errors: readonly FieldError[]): string {
  const lines = errors.slice(0, MAX_REPORTED_ERRORS).map(formatFieldError);
  if (errors.length > MAX_REPORTED_ERRORS) lines.push(truncationNote(errors.length - MAX_REPORTED_ERRORS));
  return lines.length === 1 ? (lines[0] ?? "") : `[${lines.join(", ")}]`;
}
