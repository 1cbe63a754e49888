/**
 * The redis.conf of a pod, as lines: what the entrypoint feeds to redis-server, and what the DR test harness
 * starts its pods with, so both run the same configuration.
 */
import { HOLD_UPSTREAM, REDIS_PORT } from "../../model/pods.ts";
import {
  ADMIN_RULES,
  ADMIN_USER,
  APPLICATION_RULES,
  REPLICATION_RULES,
  REPLICATION_USER,
  SENTINEL_RULES,
  SENTINEL_USER,
} from "../../redis/users.ts";
import { TLS_FILES } from "../tls-files.ts";

/**
 * With `tlsSecret`, Redis speaks only TLS on 6379, also when it replicates (from the source or the leader):
 * the certificate and key are the Secret's tls.crt/tls.key, peers are verified against its ca.crt.
 */
export const TLS_CONFIG = [
  "port 0",
  `tls-port ${REDIS_PORT}`,
  `tls-cert-file ${TLS_FILES.cert}`,
  `tls-key-file ${TLS_FILES.key}`,
  `tls-ca-cert-file ${TLS_FILES.ca}`,
  "tls-replication yes",
  "tls-auth-clients no",
];

/**
 * Persistence: AOF (every second) plus RDB snapshots. Parked: a replica of an address where nothing listens
 * (see HOLD_UPSTREAM), so the pod takes no writes and serves no SYNC until the controller gives it its role.
 */
export const BOOT_CONFIG = [
  "appendonly yes",
  "appendfsync everysec",
  "save 3600 1 300 100 60 10000",
  `replicaof ${HOLD_UPSTREAM.host} ${HOLD_UPSTREAM.port}`,
  "replica-read-only yes",
  // Sentinel never elects a pod before its first copy is complete (replication/pod-actions.ts, markElectable).
  "replica-priority 0",
];

/**
 * The passwords of a pod's users, as its configuration holds them: `#<sha256>`, `>clear` or `nopass`
 * (or the shell variables that hold one of those, in the entrypoint).
 */
export interface PodUserPasswords {
  readonly application: string;
  /** Opt-in rights for applications, appended to the `default` user's rules. */
  readonly applicationExtra?: string;
  readonly admin: string;
  readonly replication: string;
  readonly sentinel: string;
  /** The replication user's password in clear, for following another pod of the cluster. */
  readonly replicationAuth: string;
}

/** The ACL users of a pod (redis/users.ts) and how it authenticates to the pod it follows. */
export function podUserLines(passwords: PodUserPasswords): string[] {
  const extra = passwords.applicationExtra === undefined ? "" : ` ${passwords.applicationExtra}`;
  return [
    `user default on ${passwords.application} ${APPLICATION_RULES}${extra}`,
    `user ${ADMIN_USER} on ${passwords.admin} ${ADMIN_RULES}`,
    `user ${REPLICATION_USER} on ${passwords.replication} ${REPLICATION_RULES}`,
    `user ${SENTINEL_USER} on ${passwords.sentinel} ${SENTINEL_RULES}`,
    // A pod Sentinel (or anyone) re-points at another pod of the cluster authenticates as the replication user.
    `masteruser ${REPLICATION_USER}`,
    `masterauth ${passwords.replicationAuth}`,
  ];
}
