/**
 * Which Secrets a request must be checked against: those it references, on CREATE, and on UPDATE only those
 * whose reference changed. An update that leaves a reference alone is never blocked by that Secret, so a
 * promotion during an outage goes through even when the source's Secret is gone.
 */
import type { FieldPath } from "../../../kube-common/field-path.ts";
import { replicaModeOf, sourceOf, specOf, stringField, type RedisCluster } from "./cluster.ts";
import { isRecord } from "../../../kube-common/is-record.ts";

export interface SecretRequirement {
  /** Where the reference is, e.g. spec.authSecret.name. */
  readonly path: FieldPath;
  readonly name: string;
  /** Keys the Secret must hold. */
  readonly keys: readonly string[];
}

export const PASSWORD_KEYS = ["password"] as const;
export const TLS_KEYS = ["tls.crt", "tls.key", "ca.crt"] as const;

/** The shape of a Secret's name; anything else is reported by the schema and not looked up. */
const SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

interface Reference {
  readonly path: FieldPath;
  readonly read: (cluster: RedisCluster | undefined) => string | undefined;
  readonly keys: readonly string[];
}

const references = (path: FieldPath): Reference[] => {
  const spec = path.child("spec");
  const secretName = (field: string) => (cluster: RedisCluster | undefined) => {
    const reference = specOf(cluster)?.[field];
    return isRecord(reference) ? stringField(reference, "name") : undefined;
  };
  return [
    { path: spec.child("authSecret", "name"), read: secretName("authSecret"), keys: PASSWORD_KEYS },
    { path: spec.child("tlsSecret", "name"), read: secretName("tlsSecret"), keys: TLS_KEYS },
    {
      path: spec.child("replicaMode", "source", "authSecretName"),
      read: (cluster) =>
        replicaModeOf(cluster) ? stringField(sourceOf(cluster), "authSecretName") : undefined,
      keys: PASSWORD_KEYS,
    },
  ];
};

export function secretRequirements(
  cluster: RedisCluster,
  path: FieldPath,
  old?: RedisCluster,
): SecretRequirement[] {
  return references(path).flatMap(({ path: referencePath, read, keys }) => {
    const name = read(cluster);
    if (name === undefined || !SECRET_NAME.test(name) || name.length > 253) return [];
    if (old !== undefined && read(old) === name) return [];
    return [{ path: referencePath, name, keys }];
  });
}
