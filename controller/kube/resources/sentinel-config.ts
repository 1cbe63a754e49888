/**
 * The Sentinel sidecar's entrypoint, with the configuration it writes on its first start.
 */
import {
  ADMIN_RULES,
  ADMIN_USER,
  SENTINEL_DISCOVERY_RULES,
  SENTINEL_PEER_RULES,
  SENTINEL_USER,
  USERS_SECRET_KEYS,
} from "../../redis/users.ts";
import { TLS_FILES } from "../tls-files.ts";
import { SHELL_HELPERS, applicationPassword, podSecretFiles, type SecretFiles } from "./secret-files.ts";

export const SENTINEL_PORT = 26379;

/** With TLS, Sentinel speaks only TLS: to the pods, to the other Sentinels and to the controller. */
const portConfig = (tls: boolean) =>
  tls ? ["port 0", `tls-port ${SENTINEL_PORT}`, "tls-auth-clients no"] : [`port ${SENTINEL_PORT}`];

const tlsConfig = (tls: boolean) =>
  tls
    ? [
        `tls-cert-file ${TLS_FILES.cert}`,
        `tls-key-file ${TLS_FILES.key}`,
        `tls-ca-cert-file ${TLS_FILES.ca}`,
        "tls-replication yes",
      ]
    : [];

/**
 * The passwords of a Sentinel's users, as its configuration holds them: `#<sha256>`, `>clear` or `nopass`
 * (or the shell variables that hold one of those, in the entrypoint).
 */
export interface SentinelUserPasswords {
  readonly application: string;
  readonly admin: string;
  readonly sentinel: string;
  /** The Sentinel user's password in clear, for reaching the other Sentinels. */
  readonly sentinelAuth: string;
}

/** A Sentinel's ACL users (redis/users.ts) and how it authenticates to the other Sentinels. */
export function sentinelUserLines(passwords: SentinelUserPasswords): string[] {
  return [
    `user default on ${passwords.application} ${SENTINEL_DISCOVERY_RULES}`,
    `user ${ADMIN_USER} on ${passwords.admin} ${ADMIN_RULES}`,
    `user ${SENTINEL_USER} on ${passwords.sentinel} ${SENTINEL_PEER_RULES}`,
    `sentinel sentinel-user ${SENTINEL_USER}`,
    `sentinel sentinel-pass ${passwords.sentinelAuth}`,
  ];
}

/**
 * The Sentinel sidecar of `mode: sentinel`. It starts monitoring nothing: the controller tells it which pod
 * to monitor (replication/sentinel.ts, handOverToSentinels) once the cluster has a primary of its own — at
 * once for a primary cluster, only after promotion for a replica-mode (DR) cluster, so Sentinel never
 * promotes a pod inside a replica cluster. The pod template is therefore the same in every phase: switching
 * replica mode on or promoting never rolls the pods. Sentinel keeps its state in an emptyDir (it rewrites its
 * config file, mode 0600), so a restarted sidecar remembers the current primary.
 *
 * Sentinel requires a password from every client (redis/users.ts): applications discover the primary with the
 * cluster's password and can do nothing else; the controller is ADMIN_USER; Sentinels reach each other as
 * SENTINEL_USER (`sentinel sentinel-user/sentinel-pass`) and the pods as SENTINEL_USER too (the controller
 * sets auth-user/auth-pass with SENTINEL SET, never argv).
 */
export function sentinelScript(tls: boolean, files: SecretFiles = podSecretFiles(true)): string {
  return [
    ...SHELL_HELPERS,
    "conf=/sentinel/sentinel.conf",
    'if [ ! -s "$conf" ]; then',
    ...applicationPassword(files),
    `secret ${files.users}/${USERS_SECRET_KEYS.admin}; admin_pass=$(hashed)`,
    `secret ${files.users}/${USERS_SECRET_KEYS.sentinel}; plain ${USERS_SECRET_KEYS.sentinel}; sentinel_pass=$(hashed); sentinel_auth=$value`,
    '  cat > "$conf" <<END_OF_CONFIG',
    ...portConfig(tls),
    "dir /sentinel",
    // The controller names pods by IP; a DR pod of another cluster announces a name that never resolves
    // (replication/pod-actions.ts): with hostnames unresolved, Sentinel does not even list it.
    "sentinel resolve-hostnames no",
    ...tlsConfig(tls),
    ...sentinelUserLines({
      application: "$app_pass",
      admin: "$admin_pass",
      sentinel: "$sentinel_pass",
      sentinelAuth: "$sentinel_auth",
    }),
    "END_OF_CONFIG",
    "fi",
    "unset value",
    'exec redis-sentinel "$conf"',
    "",
  ].join("\n");
}
