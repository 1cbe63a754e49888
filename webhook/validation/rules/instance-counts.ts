/** `spec.instances` from 1 to MAX_INSTANCES and `spec.minSyncReplicas` ≤ instances − 1 (min-replicas-to-write). */
import { MAX_INSTANCES, redisClusterSchema } from "../../../schemas/rediscluster.ts";
import type { FieldPath } from "../../../kube-common/field-path.ts";
import { invalid, type FieldError } from "../../../kube-common/field-errors.ts";
import { integerField, specOf, type RedisCluster } from "./cluster.ts";

/** The schema's own default, which the mutating endpoint fills in before validation runs. */
const DEFAULT_INSTANCES = Number(redisClusterSchema.properties?.spec?.properties?.instances?.default ?? 1);

export function validateInstanceCounts(cluster: RedisCluster, path: FieldPath): FieldError[] {
  const spec = specOf(cluster);
  const specPath = path.child("spec");
  const errors: FieldError[] = [];
  const instances = integerField(spec, "instances");
  if (instances !== undefined && (instances < 1 || instances > MAX_INSTANCES)) {
    errors.push(invalid(specPath.child("instances"), instances, `must be between 1 and ${MAX_INSTANCES}`));
  }
  const minSyncReplicas = integerField(spec, "minSyncReplicas");
  const pods = instances ?? DEFAULT_INSTANCES;
  // A primary that needs more acknowledging replicas than exist would refuse every write.
  if (minSyncReplicas !== undefined && pods >= 1 && minSyncReplicas > pods - 1) {
    errors.push(
      invalid(
        specPath.child("minSyncReplicas"),
        minSyncReplicas,
        `must be at most instances - 1 (${pods - 1}): the primary would refuse writes`,
      ),
    );
  }
  return errors;
}
