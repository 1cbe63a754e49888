/**
 * The Kubernetes objects a RedisCluster owns, built as pure functions of the RedisCluster (one file each
 * under resources/: the pod template and its scripts, the Services, the budget, the users Secret). What the
 * rest of the controller and the tests use of them.
 */
export { statefulSetFor, statefulSetSpecHash } from "./resources/pod-spec.ts";
export { entrypointScript } from "./resources/entrypoint.ts";
export { SENTINEL_PORT, sentinelScript } from "./resources/sentinel-config.ts";
export { type SecretFiles } from "./resources/secret-files.ts";
export { REDIS_UID } from "./resources/security.ts";
export { CLUSTER_LABEL, ROLE_LABEL, SPEC_HASH_ANNOTATION } from "./resources/metadata.ts";
export { servicesFor } from "./resources/services.ts";
export { podDisruptionBudgetFor } from "./resources/disruption-budget.ts";
export { usersSecretFor } from "./resources/users-secret.ts";
