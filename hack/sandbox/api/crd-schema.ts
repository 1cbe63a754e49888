/**
 * What the API server does with a custom resource's structural schema, in its order: prune unknown fields,
 * apply defaults, then validate — the OpenAPI schema (ajv) and the CEL `x-kubernetes-validations` (with
 * `oldSelf` on updates). Errors are Kubernetes field errors, so the caller can answer 422 Invalid.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { validateWithCel } from "../../cel/kubernetes-cel.ts";
import type { SchemaNode } from "../../../schemas/rediscluster.ts";
import { FieldPath } from "../../../webhook/validation/field-path.ts";
import {
  invalid,
  notSupported,
  required,
  tooLong,
  type FieldError,
} from "../../../webhook/validation/field-errors.ts";
import { clone, isObject, type JsonObject } from "./types.ts";

// ajv-formats is published as CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv, formats: string[]) => Ajv;

const preservesUnknown = (node: JsonObject): boolean => node["x-kubernetes-preserve-unknown-fields"] === true;

/** Drops every field the schema does not declare (metadata and the type fields stay at the root). */
export function prune(
  value: unknown,
  node: JsonObject | undefined,
  atRoot = false,
  dropped: string[] = [],
  path = "",
): unknown {
  if (node === undefined) return value;
  if (Array.isArray(value)) {
    const items = isObject(node.items) ? node.items : undefined;
    return value.map((item, i) => prune(item, items, false, dropped, `${path}[${i}]`));
  }
  if (!isObject(value)) return value;
  const properties = isObject(node.properties) ? node.properties : undefined;
  const additional = isObject(node.additionalProperties) ? node.additionalProperties : undefined;
  const keepAll = preservesUnknown(node) || node["x-kubernetes-embedded-resource"] === true;
  const out: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    if (atRoot && (key === "apiVersion" || key === "kind" || key === "metadata")) {
      out[key] = child;
    } else if (properties && isObject(properties[key])) {
      out[key] = prune(child, properties[key], false, dropped, path === "" ? key : `${path}.${key}`);
    } else if (additional) {
      out[key] = prune(child, additional, false, dropped, path === "" ? key : `${path}[${key}]`);
    } else if (keepAll || node.additionalProperties === true) {
      out[key] = child;
    } else {
      dropped.push(path === "" ? key : `${path}.${key}`);
    }
  }
  return out;
}

/** Fills `default`s of absent properties inside objects that exist, recursively, like the API server. */
export function applyDefaults(value: unknown, node: JsonObject | undefined): unknown {
  if (node === undefined) return value;
  if (Array.isArray(value)) {
    const items = isObject(node.items) ? node.items : undefined;
    return value.map((item) => applyDefaults(item, items));
  }
  if (!isObject(value)) return value;
  const out: JsonObject = { ...value };
  const properties = isObject(node.properties) ? node.properties : {};
  for (const [key, child] of Object.entries(properties)) {
    if (!isObject(child)) continue;
    if (out[key] === undefined && child.default !== undefined) out[key] = clone(child.default);
    if (out[key] !== undefined) out[key] = applyDefaults(out[key], child);
  }
  if (isObject(node.additionalProperties)) {
    for (const key of Object.keys(out)) {
      if (!(key in properties)) out[key] = applyDefaults(out[key], node.additionalProperties);
    }
  }
  return out;
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: false });
  addFormats(ajv, ["date-time", "date", "email", "uri", "uuid", "ipv4", "ipv6", "hostname", "byte"]);
  ajv.addFormat("int32", { type: "number", validate: (n: number) => n >= INT32.min && n <= INT32.max });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat("double", { type: "number", validate: () => true });
  ajv.addFormat("float", { type: "number", validate: () => true });
  return ajv;
}

/** The schema ajv checks: metadata is validated by the API server itself, not by the CRD. */
function forAjv(schema: JsonObject): JsonObject {
  const copy = clone(schema);
  if (isObject(copy.properties) && isObject(copy.properties.metadata)) {
    copy.properties.metadata = { type: "object" };
  }
  return copy;
}

/** A compiled validator per schema object. */
const compiled = new WeakMap<JsonObject, ValidateFunction>();
let ajv: Ajv | undefined;

function validatorFor(schema: JsonObject): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    ajv ??= newAjv();
    validate = ajv.compile(forAjv(schema));
    compiled.set(schema, validate);
  }
  return validate;
}

function pathOf(instancePath: string): FieldPath {
  let path = FieldPath.root();
  for (const raw of instancePath.split("/").slice(1)) {
    const segment = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    path = /^\d+$/.test(segment) ? path.index(Number(segment)) : path.child(segment);
  }
  return path;
}

/** Maps one ajv error to the message the Kubernetes OpenAPI validator would print. */
function toFieldError(error: ErrorObject): FieldError {
  const node = (error.parentSchema ?? {}) as JsonObject;
  const path = pathOf(error.instancePath);
  const field = path.toString();
  const value: unknown = error.data;
  const inBody = `${field} in body`;
  switch (error.keyword) {
    case "required":
      return required(path.child(String(error.params.missingProperty)));
    case "type":
      return invalid(
        path,
        value,
        `${inBody} must be of type ${String(error.params.type)}: ${JSON.stringify(typeof value === "object" ? (Array.isArray(value) ? "array" : "object") : typeof value)}`,
      );
    case "enum":
      return notSupported(path, value, (Array.isArray(node.enum) ? node.enum : []).map(String));
    case "minimum":
      return invalid(path, value, `${inBody} should be greater than or equal to ${String(node.minimum)}`);
    case "maximum":
      return invalid(path, value, `${inBody} should be less than or equal to ${String(node.maximum)}`);
    case "minLength":
      return invalid(path, value, `${inBody} should be at least ${String(node.minLength)} chars long`);
    case "maxLength":
      return tooLong(path, Number(node.maxLength));
    case "minItems":
      return invalid(path, value, `${inBody} should have at least ${String(node.minItems)} items`);
    case "maxItems":
      return invalid(path, value, `${inBody} should have at most ${String(node.maxItems)} items`);
    case "pattern":
      return invalid(path, value, `${inBody} should match '${String(node.pattern)}'`);
    case "format":
      return invalid(
        path,
        value,
        `${inBody} must be of type ${String(error.params.format)}: ${JSON.stringify(value)}`,
      );
    case "anyOf":
      return invalid(path, value, `${inBody} must be of type integer or string`);
    default:
      return invalid(path, value, error.message ?? `fails ${error.keyword}`);
  }
}

function schemaErrors(schema: JsonObject, object: unknown): FieldError[] {
  const validate = validatorFor(schema);
  if (validate(object)) return [];
  const errors = validate.errors ?? [];
  const anyOfFailures = errors.filter((e) => e.keyword === "anyOf");
  const inFailedBranch = (e: ErrorObject) =>
    e.keyword !== "anyOf" &&
    anyOfFailures.some(
      (a) => a.instancePath === e.instancePath && e.schemaPath.startsWith(`${a.schemaPath}/`),
    );
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of errors) {
    if (inFailedBranch(error)) continue;
    const fieldError = toFieldError(error);
    const key = `${fieldError.type} ${fieldError.field} ${fieldError.detail}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(fieldError);
    }
  }
  return out;
}

/**
 * Schema and CEL errors of a custom resource. CEL rules only run when the schema accepts the object
 * (Kubernetes skips CEL on a structurally invalid object: its types would not hold).
 */
export function validateCustomResource(
  schema: JsonObject,
  object: unknown,
  oldObject: unknown | undefined,
): FieldError[] {
  const errors = schemaErrors(schema, object);
  if (errors.length > 0) return errors;
  return validateWithCel(schema as SchemaNode, object, oldObject);
}

/** Prune then default: what the API server does to every custom resource it decodes. */
export function normalizeCustomResource(
  schema: JsonObject,
  object: JsonObject,
  dropped: string[] = [],
): JsonObject {
  const pruned = prune(object, schema, true, dropped);
  return applyDefaults(pruned, schema) as JsonObject;
}
