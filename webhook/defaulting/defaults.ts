/**
 * Defaulting from the schema's own `default`s (schemas/rediscluster.ts is the single source): a JSON Patch
 * that adds what is missing, computed on the raw JSON of the request, so fields this webhook does not know
 * are never touched, let alone dropped.
 *
 * It follows Kubernetes' structural defaulting: a default applies where its parent object exists (a missing
 * `replicaMode` gets no `topology`), and a `null` counts as missing (the API server prunes such nulls before
 * defaulting).
 */
import { redisClusterSchema, type SchemaNode } from "../../schemas/rediscluster.ts";
import type { JsonPatchOperation } from "../admission/types.ts";
import { isRecord } from "../../kube-common/is-record.ts";

/** RFC 6901: `~` → `~0`, `/` → `~1`. */
export function jsonPointer(segments: readonly (string | number)[]): string {
  return segments.map((s) => `/${String(s).replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");
}

const hasOwn = (object: object, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key);

/** The value a default produces, itself defaulted (a default object may have defaulted fields). */
function defaultValue(node: SchemaNode): unknown {
  const value: unknown = structuredClone(node.default);
  if (isRecord(value)) {
    for (const op of defaultingPatch(value, node)) {
      applyAdd(value, op);
    }
  }
  return value;
}

function applyAdd(target: Record<string, unknown>, op: JsonPatchOperation): void {
  const keys = op.path
    .split("/")
    .slice(1)
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
  let cursor: unknown = target;
  for (const key of keys.slice(0, -1)) cursor = isRecord(cursor) ? cursor[key] : undefined;
  const last = keys.at(-1);
  if (isRecord(cursor) && last !== undefined) cursor[last] = op.value;
}

/**
 * The operations that fill in every missing defaulted field of `value` (described by `node`), in document
 * order. Empty when nothing is missing: the caller then sends no patch at all.
 */
export function defaultingPatch(
  value: unknown,
  node: SchemaNode = redisClusterSchema,
  at: readonly (string | number)[] = [],
): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  if (Array.isArray(value)) {
    if (node.items) value.forEach((item, i) => ops.push(...defaultingPatch(item, node.items, [...at, i])));
    return ops;
  }
  if (!isRecord(value)) return ops;
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const present = hasOwn(value, key);
    if ((!present || value[key] === null) && child.default !== undefined) {
      ops.push({
        op: present ? "replace" : "add",
        path: jsonPointer([...at, key]),
        value: defaultValue(child),
      });
    } else if (present) {
      ops.push(...defaultingPatch(value[key], child, [...at, key]));
    }
  }
  const additional = node.additionalProperties;
  if (typeof additional === "object") {
    for (const key of Object.keys(value)) {
      if (!hasOwn(node.properties ?? {}, key)) {
        ops.push(...defaultingPatch(value[key], additional, [...at, key]));
      }
    }
  }
  return ops;
}
