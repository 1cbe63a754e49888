/**
 * Safe readers for the parts of a RedisCluster the rules decide on. The rules also run on objects that
 * failed the structural schema (every problem is reported at once), so nothing here trusts a type: each
 * reader returns an untyped record, and leaves are read with a type check (stringField, integerField).
 */
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { isRecord } from "../../../kube-common/is-record.ts";

export type { RedisCluster };

const record = (value: unknown): Record<string, unknown> | undefined => (isRecord(value) ? value : undefined);

export function specOf(cluster: RedisCluster | undefined): Record<string, unknown> | undefined {
  return record(record(cluster)?.spec);
}

export function replicaModeOf(cluster: RedisCluster | undefined): Record<string, unknown> | undefined {
  return record(specOf(cluster)?.replicaMode);
}

export function sourceOf(cluster: RedisCluster | undefined): Record<string, unknown> | undefined {
  return record(replicaModeOf(cluster)?.source);
}

export function replicationOf(cluster: RedisCluster | undefined): Record<string, unknown> | undefined {
  return record(record(record(cluster)?.status)?.replication);
}

function promotionOf(cluster: RedisCluster | undefined): Record<string, unknown> | undefined {
  return record(record(record(cluster)?.status)?.promotion);
}

export function metadataString(cluster: RedisCluster | undefined, field: "name" | "namespace"): string {
  const value = record(record(cluster)?.metadata)?.[field];
  return typeof value === "string" ? value : "";
}

/** Replicating from the source: replica mode enabled and no promotion requested (same as the CRD's CEL). */
export function isReplicating(cluster: RedisCluster | undefined): boolean {
  const replicaMode = replicaModeOf(cluster);
  return replicaMode?.enabled === true && replicaMode.promote !== true;
}

export function promoteRequested(cluster: RedisCluster | undefined): boolean {
  return replicaModeOf(cluster)?.promote === true;
}

/** The replication ID of a completed promotion (the demotion token), or undefined if none completed. */
export function completedPromotionId(cluster: RedisCluster | undefined): string | undefined {
  const id = promotionOf(cluster)?.replicationId;
  return typeof id === "string" && id !== "" ? id : undefined;
}

/** A string field's value, or undefined when it is absent or not a string. */
export function stringField(object: Record<string, unknown> | undefined, key: string): string | undefined {
  const value = object?.[key];
  return typeof value === "string" ? value : undefined;
}

/** An integer field's value, or undefined when it is absent or not an integer. */
export function integerField(object: Record<string, unknown> | undefined, key: string): number | undefined {
  const value = object?.[key];
  return Number.isInteger(value) ? (value as number) : undefined;
}
