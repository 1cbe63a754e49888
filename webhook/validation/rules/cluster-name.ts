/**
 * `metadata.name`: a name that can name what the controller creates for the cluster (its Services and
 * StatefulSet, controller/kube/resources.ts). The API server only asks for a DNS subdomain of up to 253, so
 * without this rule a longer name or `1abc.def` is admitted and every StatefulSet create then fails with 422.
 */
import { MAX_NAME_LENGTH, NAME_NAMES_OWNED_OBJECTS } from "../../../schemas/rediscluster.ts";
import type { FieldPath } from "../../../kube-common/field-path.ts";
import { invalid, type FieldError } from "../../../kube-common/field-errors.ts";
import { metadataString, type RedisCluster } from "./cluster.ts";

/** A DNS-1035 label: what a Service name must be. */
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export function validateClusterName(cluster: RedisCluster, path: FieldPath): FieldError[] {
  const name = metadataString(cluster, "name");
  if (name.length <= MAX_NAME_LENGTH && DNS_1035_LABEL.test(name)) return [];
  return [invalid(path.child("metadata", "name"), name, NAME_NAMES_OWNED_OBJECTS)];
}
