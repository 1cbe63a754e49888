/**
 * The Kubernetes objects a RedisCluster owns, built as pure functions of the RedisCluster (one file each
 * under resources/: the pod template and its scripts, the Services, the budget, the users Secret).
 */
export { DEFAULT_IMAGE, CONFIG_DIR, statefulSetFor } from "./resources/pod-spec.ts";
export { entrypointScript } from "./resources/entrypoint.ts";
export { SENTINEL_PORT, sentinelScript } from "./resources/sentinel-config.ts";
export { AUTH_MOUNT, USERS_MOUNT, type SecretFiles } from "./resources/secret-files.ts";
export { REDIS_UID, containerSecurityContext, podSecurityContext } from "./resources/security.ts";
export {
  CLUSTER_LABEL,
  ROLE_LABEL,
  SPEC_HASH_ANNOTATION,
  ownerReference,
  specHash,
} from "./resources/metadata.ts";
export {
  headlessServiceName,
  leaderServiceName,
  replicasServiceName,
  servicesFor,
} from "./resources/services.ts";
export { podDisruptionBudgetFor } from "./resources/disruption-budget.ts";
export { usersSecretFor } from "./resources/users-secret.ts";
