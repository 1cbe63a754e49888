/** Building blocks for webhook tests: RedisClusters in the states the rules care about, merge patches. */
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";
import type { AdmissionRequest, Operation } from "../../webhook/admission/types.ts";
import { formatFieldError, type FieldError } from "../../kube-common/field-errors.ts";

export const TOKEN = "8f1c0b2a9d6e4f3a7b5c1d0e2f4a6b8c9d0e1f2a";

export const SOURCE = { host: "35.123.45.67", port: 6379, clusterName: "redis-east" };

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** RFC 7386 JSON merge patch, as `kubectl patch --type=merge` and the API server apply it. */
export function mergePatch<T>(target: T, patch: unknown): T {
  if (!isRecord(patch)) return patch as T;
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result as T;
}

export function cluster(spec: Record<string, unknown>, status?: Record<string, unknown>): RedisCluster {
  return {
    apiVersion: "redis.io/v1",
    kind: "RedisCluster",
    metadata: { name: "redis-west", namespace: "default" },
    spec: { instances: 3, mode: "standalone", ...spec },
    ...(status ? { status } : {}),
  } as RedisCluster;
}

/** A standalone cluster that never replicated. */
export const standalone = cluster({});

/** A DR cluster replicating from redis-east. */
export const replicating = cluster({ replicaMode: { enabled: true, topology: "direct", source: SOURCE } });

/** A DR cluster whose promotion the controller completed (it recorded the new history's ID). */
export const promoted = cluster(
  { replicaMode: { enabled: true, topology: "direct", source: SOURCE, promote: true } },
  { promotion: { phase: "Completed", replicationId: TOKEN } },
);

/** A promotion that was requested but never completed (the leader never took writes). */
export const promotionPending = cluster(
  { replicaMode: { enabled: true, topology: "direct", source: SOURCE, promote: true } },
  { promotion: { phase: "Promoting" } },
);

/** A promoted cluster whose replica mode was then switched off. */
export const promotedThenOff = cluster(
  { replicaMode: { enabled: false, topology: "direct", source: SOURCE, promote: false } },
  { promotion: { phase: "Completed", replicationId: TOKEN } },
);

export const messages = (errors: readonly FieldError[]): string[] => errors.map(formatFieldError);

let counter = 0;
export function request(operation: Operation, object: unknown, oldObject?: unknown): AdmissionRequest {
  counter += 1;
  return {
    uid: `00000000-0000-4000-8000-${String(counter).padStart(12, "0")}`,
    kind: { group: "redis.io", version: "v1", kind: "RedisCluster" },
    resource: { group: "redis.io", version: "v1", resource: "redisclusters" },
    name: "redis-west",
    namespace: "default",
    operation,
    object,
    ...(oldObject !== undefined ? { oldObject } : {}),
    dryRun: false,
  };
}
