/**
 * Validates a RedisCluster against the CRD's own schema (the same object, imported from schemas/), and
 * reports ajv's findings as Kubernetes-style field errors with dotted paths.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { redisClusterSchema, type SchemaNode } from "../../schemas/rediscluster.ts";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";
import { FieldPath } from "../../kube-common/field-path.ts";
import {
  invalid,
  notSupported,
  required,
  tooLong,
  tooMany,
  type FieldError,
} from "../../kube-common/field-errors.ts";

// ajv-formats is published as CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv, formats: string[]) => Ajv;

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

function compile(): ValidateFunction<RedisCluster> {
  // strictTypes is off: a Kubernetes int-or-string node is untyped with a string `pattern`, by design.
  const ajv = new Ajv({
    allErrors: true,
    verbose: true,
    strict: true,
    strictRequired: false,
    strictTypes: false,
  });
  addFormats(ajv, ["date-time"]);
  ajv.addFormat("int32", { type: "number", validate: (n: number) => n >= INT32.min && n <= INT32.max });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
  // Kubernetes extensions: meaningful to the API server (CEL rules run there and in the webhook's own
  // rules), annotations to ajv.
  ajv.addVocabulary([
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
  ]);
  return ajv.compile<RedisCluster>(redisClusterSchema);
}

let validator: ValidateFunction<RedisCluster> | undefined;

/** Every way `object` breaks the schema, all at once. An empty list means it is structurally valid. */
export function validateStructure(object: unknown): FieldError[] {
  validator ??= compile();
  if (validator(object)) return [];
  return toFieldErrors(validator.errors ?? []);
}

/** A JSON pointer segment, unescaped (RFC 6901). */
const unescapePointer = (segment: string): string => segment.replaceAll("~1", "/").replaceAll("~0", "~");

/** `/spec/replicaMode/source/port` → spec.replicaMode.source.port; array indices become `[i]`. */
function pathOf(instancePath: string): FieldPath {
  let path = FieldPath.root();
  for (const raw of instancePath.split("/").slice(1)) {
    const segment = unescapePointer(raw);
    path = /^\d+$/.test(segment) ? path.index(Number(segment)) : path.child(segment);
  }
  return path;
}

const MAP_PARENT = /\/(nodeSelector|limits|requests)$/;

/** Entries of a string-keyed map are printed as `[key]`, like Kubernetes does. */
function mapEntryPath(error: ErrorObject): FieldPath | undefined {
  const slash = error.instancePath.lastIndexOf("/");
  if (slash === -1) return undefined;
  const parentPath = error.instancePath.slice(0, slash);
  return MAP_PARENT.test(parentPath)
    ? pathOf(parentPath).key(unescapePointer(error.instancePath.slice(slash + 1)))
    : undefined;
}

const PATTERN_DETAIL: Readonly<Record<string, string>> = {
  "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$":
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and " +
    "must start and end with an alphanumeric character",
};

function rangeDetail(node: SchemaNode): string {
  const { minimum, maximum } = node;
  if (minimum !== undefined && maximum !== undefined) return `must be between ${minimum} and ${maximum}`;
  if (minimum !== undefined) return `must be greater than or equal to ${minimum}`;
  return `must be less than or equal to ${maximum}`;
}

function toFieldError(error: ErrorObject): FieldError {
  const node = (error.parentSchema ?? {}) as SchemaNode;
  const path = mapEntryPath(error) ?? pathOf(error.instancePath);
  const value: unknown = error.data;
  switch (error.keyword) {
    case "required":
      return required(path.child(String(error.params.missingProperty)));
    case "type":
      return invalid(path, value, `must be of type ${String(error.params.type)}`);
    case "enum":
      return notSupported(path, value, (node.enum ?? []).map(String));
    case "minimum":
    case "maximum":
      return invalid(path, value, rangeDetail(node));
    case "minLength":
      return node.minLength === 1
        ? required(path, "must not be empty")
        : invalid(path, value, `must be at least ${node.minLength} characters`);
    case "maxLength":
      return tooLong(path, node.maxLength ?? 0);
    case "maxProperties":
      return tooMany(
        path,
        typeof value === "object" && value !== null ? Object.keys(value).length : -1,
        node.maxProperties ?? 0,
      );
    case "maxItems":
      return tooMany(path, Array.isArray(value) ? value.length : -1, node.maxItems ?? 0);
    case "pattern":
      if (node["x-kubernetes-int-or-string"]) {
        return invalid(path, value, "must be a quantity such as 100Gi, 512Mi or 500m");
      }
      return invalid(path, value, PATTERN_DETAIL[node.pattern ?? ""] ?? `must match ${node.pattern}`);
    case "anyOf":
      return invalid(path, value, "must be an integer or a string");
    case "format":
      return invalid(path, value, `must be a valid ${String(error.params.format)}`);
    default:
      return invalid(path, value, error.message ?? `fails ${error.keyword}`);
  }
}

/**
 * ajv's errors as field errors, in one pass: linear in their number, however hostile the input (a map of 32k
 * invalid quantities gives 32k anyOf failures, each with its two branch errors).
 */
function toFieldErrors(errors: readonly ErrorObject[]): FieldError[] {
  // An int-or-string value that is neither reports once (its anyOf), not once per branch as well. The anyOf
  // failures are indexed by the value they are about, so each error is checked against its own only.
  const anyOfByPath = new Map<string, string[]>();
  for (const error of errors) {
    if (error.keyword !== "anyOf") continue;
    const branchPrefix = `${error.schemaPath}/`;
    const prefixes = anyOfByPath.get(error.instancePath);
    if (prefixes === undefined) anyOfByPath.set(error.instancePath, [branchPrefix]);
    else prefixes.push(branchPrefix);
  }
  const inFailedBranch = (e: ErrorObject): boolean => {
    if (e.keyword === "anyOf") return false;
    const prefixes = anyOfByPath.get(e.instancePath);
    return prefixes !== undefined && prefixes.some((prefix) => e.schemaPath.startsWith(prefix));
  };
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of errors) {
    if (inFailedBranch(error)) continue;
    const fieldError = toFieldError(error);
    const key = `${fieldError.type} ${fieldError.field} ${fieldError.detail}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(fieldError);
  }
  return out;
}
