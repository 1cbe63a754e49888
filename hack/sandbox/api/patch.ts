/**
 * The three patch types of the API server: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the
 * strategic merge patch kubectl sends for built-in kinds — the subset of it our objects need: lists of
 * objects merged by their Kubernetes merge key, and the `$patch`, `$retainKeys`,
 * `$deleteFromPrimitiveList` and `$setElementOrder` directives.
 */
import jsonPatch from "fast-json-patch";
import type { Operation } from "fast-json-patch";
import { ApiError, badRequest, clone, isObject, type JsonObject } from "./types.ts";

export type PatchType = "merge" | "json" | "strategic" | "apply";

export function patchTypeOf(contentType: string | undefined): PatchType {
  const type = (contentType ?? "").split(";")[0]?.trim();
  switch (type) {
    case "application/merge-patch+json":
      return "merge";
    case "application/json-patch+json":
      return "json";
    case "application/strategic-merge-patch+json":
      return "strategic";
    case "application/apply-patch+yaml":
    case "application/apply-patch+cbor":
      return "apply";
    default:
      throw ApiError.of(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
      );
  }
}

/** RFC 7386: objects merge recursively, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

export function applyJsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw badRequest("json patch must be an array of operations");
  try {
    return jsonPatch.applyPatch(clone(target), operations as Operation[], true, false).newDocument;
  } catch (error) {
    // Kubernetes answers a failing `test` or a missing path with 422 Invalid… but kubectl only shows the text.
    throw ApiError.of(
      422,
      "Invalid",
      `the server rejected our request due to an error in our request: ${(error as Error).message.split("\n")[0] ?? ""}`,
    );
  }
}

/** Merge keys of the built-in list fields (patchMergeKey in the Kubernetes Go types). */
const MERGE_KEYS: Readonly<Record<string, readonly string[]>> = {
  containers: ["name"],
  initContainers: ["name"],
  ephemeralContainers: ["name"],
  env: ["name"],
  volumes: ["name"],
  volumeMounts: ["mountPath"],
  volumeClaimTemplates: ["metadata.name"],
  ports: ["containerPort", "port"],
  conditions: ["type"],
  ownerReferences: ["uid"],
  imagePullSecrets: ["name"],
  hostAliases: ["ip"],
  webhooks: ["name"],
  finalizers: [],
};

const keyOf = (item: unknown, keys: readonly string[]): string | undefined => {
  if (!isObject(item)) return undefined;
  for (const key of keys) {
    let value: unknown = item;
    for (const segment of key.split(".")) value = isObject(value) ? value[segment] : undefined;
    if (value !== undefined) return `${key}=${JSON.stringify(value)}`;
  }
  return undefined;
};

function mergeList(field: string, target: unknown, patch: unknown[]): unknown[] {
  const keys = MERGE_KEYS[field];
  const current = Array.isArray(target) ? target : [];
  if (keys === undefined) return clone(patch).filter((item) => !(isObject(item) && "$patch" in item));
  if (keys.length === 0) {
    // A merged list of primitives (finalizers): union, keeping order.
    return [...current, ...patch.filter((item) => !current.includes(item))];
  }
  if (patch.some((item) => isObject(item) && item.$patch === "replace")) {
    return patch.filter((item) => !(isObject(item) && item.$patch === "replace")).map((item) => clone(item));
  }
  const result = current.map((item) => clone(item));
  for (const item of patch) {
    const key = keyOf(item, keys);
    const index = key === undefined ? -1 : result.findIndex((existing) => keyOf(existing, keys) === key);
    if (isObject(item) && item.$patch === "delete") {
      if (index >= 0) result.splice(index, 1);
    } else if (index >= 0) {
      result[index] = strategicMergePatch(result[index], item);
    } else {
      result.push(strategicMergePatch(undefined, item));
    }
  }
  return result;
}

/** A strategic merge patch, applied to built-in objects. */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === "replace") {
    const rest = { ...patch };
    delete rest.$patch;
    return clone(rest);
  }
  if (patch.$patch === "delete") return undefined;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  const retainKeys = Array.isArray(patch.$retainKeys) ? patch.$retainKeys.map(String) : undefined;
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$patch" || key === "$retainKeys" || key.startsWith("$setElementOrder/")) continue;
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const remove = Array.isArray(value) ? value : [];
      const list = result[field];
      if (Array.isArray(list)) result[field] = list.filter((item) => !remove.includes(item));
      continue;
    }
    if (value === null) {
      delete result[key];
    } else if (Array.isArray(value)) {
      result[key] = mergeList(key, result[key], value);
    } else {
      const merged = strategicMergePatch(result[key], value);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    }
  }
  if (retainKeys) {
    for (const key of Object.keys(result)) if (!retainKeys.includes(key)) delete result[key];
  }
  return result;
}
