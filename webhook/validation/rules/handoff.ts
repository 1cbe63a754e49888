/**
 * The planned switchover's fields (docs/switchover.md §2, "The token rule"): `promoteBy: Handoff` needs a
 * `handoffAddress` and `promote: true`; `joinBy: Handoff` makes the cluster a replica of its source, so it
 * needs a source and cannot go with `promote: true`. The CRD carries the same rules in CEL, word for word.
 */
import {
  HANDOFF_NEEDS_ADDRESS,
  HANDOFF_NEEDS_PROMOTE,
  JOIN_HANDOFF_FORBIDS_PROMOTE,
} from "../../../schemas/rediscluster.ts";
import type { FieldPath } from "../../../kube-common/field-path.ts";
import { invalid, required, type FieldError } from "../../../kube-common/field-errors.ts";
import { replicaModeOf, type RedisCluster } from "./cluster.ts";

export const JOIN_HANDOFF_NEEDS_SOURCE = "joinBy: Handoff needs enabled: true and a source to hand over to";

export function validateHandoff(cluster: RedisCluster, path: FieldPath): FieldError[] {
  const replicaMode = replicaModeOf(cluster);
  if (replicaMode === undefined) return [];
  const replicaModePath = path.child("spec", "replicaMode");
  const errors: FieldError[] = [];
  if (replicaMode.promoteBy === "Handoff") {
    if (replicaMode.handoffAddress === undefined) {
      errors.push(required(replicaModePath.child("handoffAddress"), HANDOFF_NEEDS_ADDRESS));
    }
    if (replicaMode.promote !== true) {
      errors.push(invalid(replicaModePath.child("promoteBy"), "Handoff", HANDOFF_NEEDS_PROMOTE));
    }
  }
  if (replicaMode.joinBy === "Handoff") {
    if (replicaMode.enabled !== true || replicaMode.source === undefined) {
      errors.push(invalid(replicaModePath.child("joinBy"), "Handoff", JOIN_HANDOFF_NEEDS_SOURCE));
    }
    if (replicaMode.promote === true) {
      errors.push(invalid(replicaModePath.child("joinBy"), "Handoff", JOIN_HANDOFF_FORBIDS_PROMOTE));
    }
  }
  return errors;
}
