/**
 * Every validation rule of the webhook, in one place (DESIGN §4). A rule is a pure function
 * `(cluster, parentPath, old?) → FieldError[]`; `old` is the stored object on UPDATE and undefined on CREATE.
 * The structural schema (validateStructure) runs beside them, and Secrets are looked up for the references
 * secretRequirements names.
 */
import type { FieldPath } from "../../../kube-common/field-path.ts";
import type { FieldError } from "../../../kube-common/field-errors.ts";
import type { RedisCluster } from "./cluster.ts";
import { validateClusterName } from "./cluster-name.ts";
import { validateInstanceCounts } from "./instance-counts.ts";
import { validateReplicaSource } from "./replica-source.ts";
import { validatePromoteRevert } from "./promote-revert.ts";
import { validateHandoff } from "./handoff.ts";
import { validateStorageUnchanged } from "./storage-unchanged.ts";
import {
  warnDataReplaced,
  warnNoAuthSecret,
  warnPromotionWithoutSync,
  type WarningRule,
} from "./warnings.ts";

export type ValidationRule = (cluster: RedisCluster, path: FieldPath, old?: RedisCluster) => FieldError[];

export const validationRules: readonly ValidationRule[] = [
  validateClusterName, // metadata.name: a DNS-1035 label of at most 52, to name the Services and StatefulSet
  validateInstanceCounts, // spec.instances ≥ 1; spec.minSyncReplicas ≤ instances − 1
  validateReplicaSource, // source port range; enabled needs a host; host syntax; no self-loop
  validatePromoteRevert, // promote needs a source, not on CREATE; no turning off; revert needs the token
  validateHandoff, // promoteBy: Handoff needs handoffAddress and promote; joinBy: Handoff a source, no promote
  validateStorageUnchanged, // spec.storage is fixed at creation (a StatefulSet's claim templates are)
];

export const warningRules: readonly WarningRule[] = [
  warnDataReplaced, // a cluster with data starts replicating: its data is replaced
  warnPromotionWithoutSync, // promoting with the link down or never synced: the known lag is lost
  warnNoAuthSecret, // no authSecret: the cluster's Redis takes clients without a password
];

export { secretRequirements } from "./secret-references.ts";
export type { RedisCluster, WarningRule };
