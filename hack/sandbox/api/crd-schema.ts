/**
 * What the API server does with a custom resource's structural schema, in its order: prune unknown fields,
 * drop nulls and apply defaults, then validate — the OpenAPI schema the way kube-openapi's validator does
 * (its checks, messages and order), list types, and the CEL `x-kubernetes-validations` (with `oldSelf` on
 * updates). Errors are the API server's field errors (field-errors.ts), for a 422 Invalid; the answers it
 * must match are captured from a real API server in test/fixtures/real-apiserver/.
 */
import { isIPv4, isIPv6 } from "node:net";
import { isDeepStrictEqual } from "node:util";
import { validateWithCel } from "../../cel/kubernetes-cel.ts";
import type { SchemaNode } from "../../../schemas/rediscluster.ts";
import {
  childPath,
  duplicate,
  formatFieldError,
  goQuote,
  indexPath,
  invalid,
  isBlocking,
  keyPath,
  NO_FIELD,
  notSupported,
  required,
  tooLong,
  tooMany,
  typeInvalid,
  type FieldError,
} from "./field-errors.ts";
import { clone, isObject, type JsonObject } from "./types.ts";

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
      out[key] = prune(child, additional, false, dropped, path === "" ? key : `${path}.${key}`);
    } else if (keepAll || node.additionalProperties === true) {
      out[key] = child;
    } else {
      dropped.push(path === "" ? key : `${path}.${key}`);
    }
  }
  return out;
}

/**
 * Fills `default`s of absent properties inside objects that exist, recursively, like the API server; a null
 * where the schema is not nullable counts as absent (dropped, or defaulted).
 */
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
    if (out[key] === null && child.nullable !== true) delete out[key];
    if (out[key] === undefined && child.default !== undefined) out[key] = clone(child.default);
    if (out[key] !== undefined) out[key] = applyDefaults(out[key], child);
  }
  if (isObject(node.additionalProperties)) {
    const additional = node.additionalProperties;
    for (const key of Object.keys(out)) {
      if (key in properties) continue;
      if (out[key] === null && additional.nullable !== true) delete out[key];
      else out[key] = applyDefaults(out[key], additional);
    }
  }
  return out;
}

// ---------------------------------------------------------------- the OpenAPI schema (kube-openapi's validator)

/** Where the checked value sits: its kube-openapi path (`spec.instances`) and the error path's prefix. */
interface Place {
  /** The path kube-openapi prints in messages, relative to the validated value. */
  readonly path: string;
  /** The field path the validated value has (`status` on the status endpoint, "" for the whole object). */
  readonly prefix: string;
}

const fieldOf = (place: Place): string => {
  if (place.path === "") return place.prefix === "" ? NO_FIELD : place.prefix;
  return childPath(place.prefix, place.path);
};

/** An error kube-openapi does not raise as a validation error: reported at the root, value "". */
const unplaced = (place: Place, message: string): FieldError =>
  invalid(place.prefix || NO_FIELD, "", message);

const at = (place: Place, name: string): Place => ({
  ...place,
  path: place.path === "" ? name : `${place.path}.${name}`,
});
const atIndex = (place: Place, index: number): Place => ({ ...place, path: `${place.path}[${index}]` });

/** The JSON type and format kube-openapi infers for a decoded value (Go decodes numbers to int64 or float64). */
function typeInfo(value: unknown): [type: string, format: string] {
  if (typeof value === "boolean") return ["boolean", ""];
  if (typeof value === "string") return ["string", ""];
  if (typeof value === "number")
    return Number.isInteger(value) ? ["integer", "int64"] : ["number", "float64"];
  if (Array.isArray(value)) return ["array", ""];
  return ["object", ""];
}

const typesOf = (node: JsonObject): string[] => {
  if (node["x-kubernetes-int-or-string"] === true) return ["integer", "string"];
  return typeof node.type === "string" ? [node.type] : [];
};

const validDate = (text: string): boolean => {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
};

/** strfmt's checks of the string formats Kubernetes keeps; other formats are not checked here. */
const STRING_FORMATS: Readonly<Record<string, (text: string) => boolean>> = {
  date: validDate,
  "date-time": (text) => {
    // strfmt.IsDateTime: a date, "t", then hh:mm:ss[.frac](z|±hh:mm), compared as text.
    const [date, time, ...rest] = text.toLowerCase().split("t");
    if (text.length < 4 || date === undefined || time === undefined || rest.length > 0 || !validDate(date))
      return false;
    const match = /^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$/.exec(time);
    return match !== null && match[1]! <= "23" && match[2]! <= "59" && match[3]! <= "59";
  },
  byte: (text) => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text),
  uuid: (text) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(text),
  ipv4: (text) => isIPv4(text),
  ipv6: (text) => isIPv6(text),
};

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

/** Compiled `pattern`s: every write of a custom resource checks them. */
const patterns = new Map<string, RegExp>();
const matches = (pattern: string, text: string): boolean => {
  let regexp = patterns.get(pattern);
  if (!regexp) patterns.set(pattern, (regexp = new RegExp(pattern, "u")));
  return regexp.test(text);
};

/** The number validator's range check of the value against the node's type and format. */
function rangeError(node: JsonObject, value: number, place: Place): FieldError | undefined {
  if (typesOf(node).length !== 1 || node.type !== "integer") return undefined;
  const format = node.format === "int32" || node.format === "int64" ? node.format : "";
  const fits =
    Number.isInteger(value) && (format === "int32" ? value >= INT32.min && value <= INT32.max : true);
  if (fits) return undefined;
  const type = format === "" ? "integer (default format)" : `integer with format ${format}`;
  return unplaced(place, `Checked value must be of type ${type} in ${place.path}`);
}

/**
 * The errors of `value` against one schema node, in kube-openapi's order: type, anyOf, string, format,
 * number, array, enum, then the object's entries — additionalProperties, declared properties, required.
 * (kube-openapi walks properties in Go map order, which changes from one request to the next; here they go
 * in the schema's order, one of the orders the real server gives.)
 */
function nodeErrors(node: JsonObject, value: unknown, place: Place): FieldError[] {
  const errors: FieldError[] = [];
  const field = fieldOf(place);
  const inBody = `${place.path} in body`;
  const types = typesOf(node);
  const format = typeof node.format === "string" ? node.format : "";

  // type
  if (types.length > 0 || format !== "") {
    if (value === null) {
      if (types.length > 0 && node.nullable !== true)
        errors.push(typeInvalid(field, "null", `${inBody} must be of type ${types.join(",")}: "null"`));
      return errors;
    }
    const [actualType, actualFormat] = typeInfo(value);
    const isIntFloat = actualType === "integer" && types.includes("number");
    const numericType = types.includes("number") || types.includes("integer");
    if (
      typeof value !== "string" &&
      !Array.isArray(value) &&
      format !== "" &&
      !(types.includes(actualType) || actualFormat === format || isIntFloat)
    ) {
      errors.push(
        typeInvalid(field, actualFormat, `${inBody} must be of type ${format}: ${goQuote(actualFormat)}`),
      );
    } else if (
      !(!numericType && format !== "" && (typeof value === "string" || Array.isArray(value))) &&
      !(types.includes(actualType) || isIntFloat)
    ) {
      errors.push(
        typeInvalid(
          field,
          actualType,
          `${inBody} must be of type ${types.join(",")}: ${goQuote(actualType)}`,
        ),
      );
    }
  }
  if (value === null) return errors;

  // anyOf: the first failing branch's errors when none passes (its best failure, for int-or-string).
  if (Array.isArray(node.anyOf) && node.anyOf.length > 0) {
    const branches = node.anyOf.filter(isObject).map((branch) => nodeErrors(branch, value, place));
    if (branches.every((branch) => branch.length > 0)) {
      errors.push(unplaced(place, `${goQuote(place.path)} must validate at least one schema (anyOf)`));
      errors.push(...(branches[0] ?? []));
    }
  }

  if (typeof value === "string") {
    // Length in characters (runes), like Go's utf8.RuneCountInString; the first failing check only.
    const length = [...value].length;
    if (typeof node.maxLength === "number" && length > node.maxLength) {
      errors.push(tooLong(field, node.maxLength));
    } else if (typeof node.minLength === "number" && length < node.minLength) {
      errors.push(invalid(field, value, `${inBody} should be at least ${node.minLength} chars long`));
    } else if (typeof node.pattern === "string" && !matches(node.pattern, value)) {
      errors.push(invalid(field, value, `${inBody} should match '${node.pattern}'`));
    }
    const check = STRING_FORMATS[format];
    if (check && !check(value))
      errors.push(typeInvalid(field, value, `${inBody} must be of type ${format}: ${goQuote(value)}`));
  }

  if (typeof value === "number") {
    const range = rangeError(node, value, place);
    if (range) errors.push(range);
    if (typeof node.minimum === "number") {
      const exclusive = node.exclusiveMinimum === true;
      if (exclusive ? value <= node.minimum : value < node.minimum)
        errors.push(
          invalid(
            field,
            value,
            `${inBody} should be greater than ${exclusive ? "" : "or equal to "}${node.minimum}`,
          ),
        );
    }
    if (typeof node.maximum === "number") {
      const exclusive = node.exclusiveMaximum === true;
      if (exclusive ? value >= node.maximum : value > node.maximum)
        errors.push(
          invalid(
            field,
            value,
            `${inBody} should be less than ${exclusive ? "" : "or equal to "}${node.maximum}`,
          ),
        );
    }
  }

  if (Array.isArray(value)) {
    if (isObject(node.items)) {
      const items = node.items;
      value.forEach((item, i) => errors.push(...nodeErrors(items, item, atIndex(place, i))));
    }
    if (typeof node.minItems === "number" && value.length < node.minItems)
      errors.push(invalid(field, value.length, `${inBody} should have at least ${node.minItems} items`));
    if (typeof node.maxItems === "number" && value.length > node.maxItems)
      errors.push(tooMany(field, value.length, node.maxItems));
  }

  if (Array.isArray(node.enum) && !node.enum.some((allowed) => isDeepStrictEqual(allowed, value))) {
    const allowed = node.enum.map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
    errors.push(notSupported(field, value, allowed));
  }

  if (isObject(value)) {
    const count = Object.keys(value).length;
    if (typeof node.maxProperties === "number" && count > node.maxProperties)
      errors.push(tooMany(field, count, node.maxProperties));
    const properties = isObject(node.properties) ? node.properties : {};
    if (isObject(node.additionalProperties)) {
      const additional = node.additionalProperties;
      for (const [key, child] of Object.entries(value)) {
        if (!(key in properties)) errors.push(...nodeErrors(additional, child, at(place, key)));
      }
    }
    for (const [key, child] of Object.entries(properties)) {
      if (isObject(child) && key in value) errors.push(...nodeErrors(child, value[key], at(place, key)));
    }
    for (const key of Array.isArray(node.required) ? node.required : []) {
      if (!(String(key) in value)) errors.push(required(fieldOf(at(place, String(key)))));
    }
  }
  return errors;
}

/** The same error once (kube-openapi's Result keeps the first of equal messages). */
function unique(errors: readonly FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((error) => {
    const key = `${error.type} ${formatFieldError(error)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The schema validator's errors; metadata is the API server's own business, not the CRD's. */
function schemaErrors(schema: JsonObject, object: unknown): FieldError[] {
  const forObject = isObject(schema.properties)
    ? { ...schema, properties: { ...schema.properties } }
    : schema;
  if (isObject(forObject.properties) && isObject(forObject.properties.metadata))
    forObject.properties.metadata = { type: "object" };
  return unique(nodeErrors(forObject, object, { path: "", prefix: "" }));
}

// ---------------------------------------------------------------- x-kubernetes-list-type

/** The second occurrence of each repeated key (validateListSet: later repeats are not reported again). */
function firstRepeats(keys: readonly string[]): number[] {
  const seen = new Map<string, number>();
  const repeats: number[] = [];
  keys.forEach((key, i) => {
    const times = seen.get(key) ?? 0;
    seen.set(key, times + 1);
    if (times === 1) repeats.push(i);
  });
  return repeats;
}

/** JSON with an object's keys sorted, as Go marshals a map. */
const sortedJson = (value: unknown): unknown =>
  isObject(value)
    ? Object.fromEntries(
        Object.keys(value)
          .sort()
          .map((k) => [k, sortedJson(value[k])]),
      )
    : Array.isArray(value)
      ? value.map(sortedJson)
      : value;

/** Duplicate items of `set` lists and duplicate keys of `map` lists (ValidateListSetsAndMaps). */
function listErrors(node: JsonObject, value: unknown, field: string): FieldError[] {
  const errors: FieldError[] = [];
  if (Array.isArray(value)) {
    const listType = node["x-kubernetes-list-type"];
    if (listType === "set") {
      const keys = value.map((item) => JSON.stringify(sortedJson(item)));
      for (const i of firstRepeats(keys)) errors.push(duplicate(indexPath(field, i), value[i]));
    } else if (listType === "map") {
      const notObject = value.findIndex((item) => item !== null && !isObject(item));
      if (notObject >= 0)
        return [
          invalid(
            indexPath(field, notObject),
            value[notObject],
            "must be an object for an array of list-type map",
          ),
        ];
      const mapKeys = Array.isArray(node["x-kubernetes-list-map-keys"])
        ? node["x-kubernetes-list-map-keys"].map(String)
        : [];
      const keyObjects = value.map((item) => {
        const key: JsonObject = {};
        for (const k of mapKeys) if (isObject(item) && k in item) key[k] = item[k];
        return key;
      });
      const keys = keyObjects.map((key) => JSON.stringify(sortedJson(key)));
      for (const i of firstRepeats(keys))
        errors.push(duplicate(indexPath(field, i), sortedJson(keyObjects[i])));
    }
    if (isObject(node.items)) {
      const items = node.items;
      value.forEach((item, i) => errors.push(...listErrors(items, item, indexPath(field, i))));
    }
  } else if (isObject(value)) {
    const properties = isObject(node.properties) ? node.properties : {};
    if (isObject(node.additionalProperties)) {
      const additional = node.additionalProperties;
      for (const [key, child] of Object.entries(value))
        errors.push(...listErrors(additional, child, keyPath(field, key)));
    }
    for (const [key, child] of Object.entries(value)) {
      if (isObject(properties[key]))
        errors.push(...listErrors(properties[key], child, childPath(field, key)));
    }
  }
  return errors;
}

// ---------------------------------------------------------------- all of a custom resource's checks

const RULES_NOT_CHECKED =
  "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

/**
 * What the custom resource strategy checks after the object's metadata (`metadataErrors`, checked by the
 * caller): the OpenAPI schema, list types, then the CEL rules — unless an error so far is one that makes
 * the object's types unreliable (Required, NotSupported, TooLong, TooMany, TypeInvalid), which stops them
 * with a last error of no field. On the status endpoint (`subresource: "status"`) the schema checks the
 * status alone, its messages relative to it; list types count only when the old object had no such error.
 */
export function validateCustomResource(
  schema: JsonObject,
  object: JsonObject,
  oldObject: JsonObject | undefined,
  metadataErrors: readonly FieldError[] = [],
  subresource = "",
): FieldError[] {
  const errors: FieldError[] = [...metadataErrors];
  if (subresource === "status") {
    const statusSchema = isObject(schema.properties) ? schema.properties.status : undefined;
    if ("status" in object && isObject(statusSchema))
      errors.push(...unique(nodeErrors(statusSchema, object.status, { path: "", prefix: "status" })));
    const lists = listErrors(schema, object, "");
    if (lists.length > 0 && (oldObject === undefined || listErrors(schema, oldObject, "").length === 0))
      errors.push(...lists);
  } else {
    errors.push(...schemaErrors(schema, object));
    if (oldObject === undefined || listErrors(schema, oldObject, "").length === 0)
      errors.push(...listErrors(schema, object, ""));
  }
  if (errors.some(isBlocking)) return [...errors, invalid(NO_FIELD, null, RULES_NOT_CHECKED)];
  return [...errors, ...validateWithCel(schema as SchemaNode, object, oldObject)];
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
