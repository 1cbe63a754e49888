/**
 * The redis container's scripts: its entrypoint and its readiness probe.
 */
import { REDIS_PORT } from "../../model/pods.ts";
import { USERS_SECRET_KEYS } from "../../redis/users.ts";
import { TLS_FILES } from "../tls-files.ts";
import { BOOT_CONFIG, TLS_CONFIG, podUserLines } from "./redis-config.ts";
import { SHELL_HELPERS, applicationPassword, podSecretFiles, type SecretFiles } from "./secret-files.ts";

/**
 * The container's entrypoint. The configuration is fed to `redis-server -` on stdin through a here-document,
 * so no password is in any process's arguments (visible in `ps`) or written to the volume: the ACL users
 * (redis/users.ts) are built from the mounted Secret files, with their passwords as SHA-256 hashes; only the
 * generated replication password is there in clear, as `masterauth` for following another pod of the cluster
 * (as REPLICATION_USER: after a Sentinel failover too). REDIS_PASSWORD (for `kubectl exec` users and the
 * probe) is unset before the exec, so redis-server's environment does not hold it.
 *
 * Every pod boots parked as a replica of an address where nothing listens (see HOLD_UPSTREAM): it takes no
 * writes and serves no SYNC until the controller gives it its role, so a pod restarted on an empty volume
 * can never be a primary the others copy. Persistence: AOF (every second) plus RDB snapshots on the PVC.
 */
export function entrypointScript(tls: boolean, files: SecretFiles = podSecretFiles(true)): string {
  return [
    ...SHELL_HELPERS,
    ...applicationPassword(files),
    `secret ${files.users}/${USERS_SECRET_KEYS.admin}; admin_pass=$(hashed)`,
    `secret ${files.users}/${USERS_SECRET_KEYS.sentinel}; sentinel_pass=$(hashed)`,
    `secret ${files.users}/${USERS_SECRET_KEYS.replication}; plain ${USERS_SECRET_KEYS.replication}; replication_pass=$(hashed); replication_auth=$value`,
    "unset REDIS_PASSWORD value",
    "exec redis-server - <<END_OF_CONFIG",
    ...(tls ? TLS_CONFIG : [`port ${REDIS_PORT}`]),
    "protected-mode no",
    "dir /data",
    ...BOOT_CONFIG,
    ...podUserLines({
      application: "$app_pass",
      applicationExtra: "$app_extra",
      admin: "$admin_pass",
      replication: "$replication_pass",
      sentinel: "$sentinel_pass",
      replicationAuth: "$replication_auth",
    }),
    "END_OF_CONFIG",
    "",
  ].join("\n");
}

/**
 * Readiness: Redis answers PING (a loading instance does not). REDISCLI_AUTH keeps the password out of argv;
 * the password loses one trailing newline, as in the entrypoint.
 */
export function readinessScript(tls: boolean): string {
  const tlsFlags = tls ? ` --tls --cacert ${TLS_FILES.ca}` : "";
  return [
    "nl=$(printf '\\nx'); nl=${nl%x}; cr=$(printf '\\rx'); cr=${cr%x}",
    'p=${REDIS_PASSWORD:-}; case $p in *"$nl") p=${p%"$nl"}; p=${p%"$cr"} ;; esac',
    `REDISCLI_AUTH="$p" redis-cli${tlsFlags} -p ${REDIS_PORT} ping | grep -q PONG`,
  ].join("\n");
}
