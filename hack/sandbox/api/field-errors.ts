/**
 * Field errors as the API server prints them (k8s.io/apimachinery/pkg/util/validation/field, 1.37), for the
 * sandbox's 422 Invalid answers. The sandbox's own copy on purpose: it must read like the real server
 * (test/fixtures/real-apiserver/ holds captured answers), not like our webhook, whose messages may differ.
 *
 *   spec.replicaMode.source.port: Invalid value: 70000: spec.replicaMode.source.port in body should be …
 *   spec.minSyncReplicas: Invalid value: minSyncReplicas must be at most instances - 1   (value left out)
 *   <nil>: Invalid value: null: some validation rules were not checked because …         (no field)
 */

export type FieldErrorType =
  | "FieldValueRequired"
  | "FieldValueInvalid"
  | "FieldValueTypeInvalid"
  | "FieldValueNotSupported"
  | "FieldValueForbidden"
  | "FieldValueTooLong"
  | "FieldValueTooMany"
  | "FieldValueDuplicate"
  | "InternalError";

export interface FieldError {
  readonly type: FieldErrorType;
  /** The field's path (`spec.instances`, `status.conditions[1]`), or `<nil>` for an error of no field. */
  readonly field: string;
  /**
   * The offending value, printed by the types that print one. Absent: left out of the message, as the API
   * server does for CEL rules on objects and arrays (field.OmitValueType).
   */
  readonly badValue?: unknown;
  readonly detail: string;
}

/** A field error of one type, e.g. what a constructor returns. */
export type FieldErrorOf<T extends FieldErrorType> = FieldError & { readonly type: T };

/** How Go prints a nil *field.Path: the field of an error that belongs to no field. */
export const NO_FIELD = "<nil>";

/** `spec` + `instances` → `spec.instances` (field.Path.Child). */
export const childPath = (path: string, name: string): string => (path === "" ? name : `${path}.${name}`);

/** `status.conditions` + 1 → `status.conditions[1]` (field.Path.Index). */
export const indexPath = (path: string, index: number): string => `${path}[${index}]`;

/** `spec.nodeSelector` + `zone` → `spec.nodeSelector[zone]` (field.Path.Key). */
export const keyPath = (path: string, key: string): string => `${path}[${key}]`;

export const required = (field: string, detail = ""): FieldErrorOf<"FieldValueRequired"> => ({
  type: "FieldValueRequired",
  field,
  detail,
});

export const invalid = (
  field: string,
  badValue: unknown,
  detail: string,
): FieldErrorOf<"FieldValueInvalid"> => ({
  type: "FieldValueInvalid",
  field,
  badValue,
  detail,
});

/** Invalid without the value: `Invalid value: <detail>`. */
export const invalidOmittingValue = (field: string, detail: string): FieldErrorOf<"FieldValueInvalid"> => ({
  type: "FieldValueInvalid",
  field,
  detail,
});

export const typeInvalid = (
  field: string,
  badValue: unknown,
  detail: string,
): FieldErrorOf<"FieldValueTypeInvalid"> => ({
  type: "FieldValueTypeInvalid",
  field,
  badValue,
  detail,
});

export const notSupported = (
  field: string,
  badValue: unknown,
  supported: readonly string[],
): FieldErrorOf<"FieldValueNotSupported"> => ({
  type: "FieldValueNotSupported",
  field,
  badValue,
  detail: supported.length > 0 ? `supported values: ${supported.map(goQuote).join(", ")}` : "",
});

export const forbidden = (field: string, detail: string): FieldErrorOf<"FieldValueForbidden"> => ({
  type: "FieldValueForbidden",
  field,
  detail,
});

export const tooLong = (field: string, maxLength: number): FieldErrorOf<"FieldValueTooLong"> => ({
  type: "FieldValueTooLong",
  field,
  detail: maxLength >= 0 ? `may not be more than ${maxLength} bytes` : "value is too long",
});

export const tooMany = (field: string, actual: number, max: number): FieldErrorOf<"FieldValueTooMany"> => ({
  type: "FieldValueTooMany",
  field,
  ...(actual >= 0 ? { badValue: actual } : {}),
  detail: `must have at most ${max} items`,
});

export const duplicate = (field: string, badValue: unknown): FieldErrorOf<"FieldValueDuplicate"> => ({
  type: "FieldValueDuplicate",
  field,
  badValue,
  detail: "",
});

/** Errors that stop the CEL rules from running (hasBlockingErr: the object's types may not hold). */
export const isBlocking = (error: FieldError): boolean =>
  error.type === "FieldValueNotSupported" ||
  error.type === "FieldValueRequired" ||
  error.type === "FieldValueTooLong" ||
  error.type === "FieldValueTooMany" ||
  error.type === "FieldValueTypeInvalid";

const TYPE_TEXT: Readonly<Record<FieldErrorType, string>> = {
  FieldValueRequired: "Required value",
  FieldValueInvalid: "Invalid value",
  FieldValueTypeInvalid: "Invalid value",
  FieldValueNotSupported: "Unsupported value",
  FieldValueForbidden: "Forbidden",
  FieldValueTooLong: "Too long",
  FieldValueTooMany: "Too many",
  FieldValueDuplicate: "Duplicate value",
  InternalError: "Internal error",
};

const NEVER_SHOWS_VALUE: ReadonlySet<FieldErrorType> = new Set([
  "FieldValueRequired",
  "FieldValueForbidden",
  "FieldValueTooLong",
  "InternalError",
]);

/** A string as Go's %q prints it: double quotes, Go escapes for control characters. */
export function goQuote(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"' || char === "\\") out += `\\${char}`;
    else if (char === "\n") out += "\\n";
    else if (char === "\t") out += "\\t";
    else if (char === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += char;
  }
  return `${out}"`;
}

/**
 * A value as field.Error prints it: numbers and booleans bare (%v), strings quoted (%q), anything else as
 * JSON (null included). Go's JSON decoding makes numbers int64 or float64, both printed bare.
 */
export function formatBadValue(value: unknown): string {
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string") return goQuote(value);
  return JSON.stringify(value) ?? "null";
}

/** The part after the field (field.Error.ErrorBody): `Invalid value: 70000: should be less than …`. */
export function errorBody(error: FieldError): string {
  let body = TYPE_TEXT[error.type];
  if (!NEVER_SHOWS_VALUE.has(error.type) && "badValue" in error)
    body += `: ${formatBadValue(error.badValue)}`;
  if (error.detail !== "") body += `: ${error.detail}`;
  return body;
}

/** `field: body` (field.Error.Error). */
export const formatFieldError = (error: FieldError): string => `${error.field}: ${errorBody(error)}`;

/** Several errors as one line, like utilerrors.NewAggregate: the same text once, `[a, b]` for several. */
export function aggregate(errors: readonly FieldError[]): string {
  const lines = [...new Set(errors.map(formatFieldError))];
  return lines.length === 1 ? (lines[0] ?? "") : `[${lines.join(", ")}]`;
}
