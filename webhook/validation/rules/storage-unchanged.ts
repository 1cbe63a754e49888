/**
 * `spec.storage` is fixed at creation. It becomes the StatefulSet's volumeClaimTemplates, which the API
 * server refuses to change: without this rule, adding, removing or changing storage is admitted and then every
 * StatefulSet patch fails with 422 (`volumeMounts[0].name: Not found: "data"`), in a loop.
 */
import { isDeepStrictEqual } from "node:util";
import { STORAGE_IMMUTABLE } from "../../../schemas/rediscluster.ts";
import type { FieldPath } from "../../../kube-common/field-path.ts";
import { forbidden, type FieldError } from "../../../kube-common/field-errors.ts";
import { specOf, type RedisCluster } from "./cluster.ts";

export function validateStorageUnchanged(
  cluster: RedisCluster,
  path: FieldPath,
  old?: RedisCluster,
): FieldError[] {
  if (old === undefined) return [];
  if (isDeepStrictEqual(specOf(cluster)?.storage, specOf(old)?.storage)) return [];
  return [forbidden(path.child("spec", "storage"), STORAGE_IMMUTABLE)];
}
