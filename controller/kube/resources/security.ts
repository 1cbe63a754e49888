/**
 * Who the Redis and Sentinel processes run as, and what they may do: Pod Security `restricted`.
 */
import type { V1PodSecurityContext, V1SecurityContext } from "@kubernetes/client-node";

/**
 * The uid and gid the Redis and Sentinel processes run as: the `redis` user and group of the official Redis
 * (and Valkey) images, Debian and Alpine alike. The image's /data belongs to it and its own entrypoint drops
 * to it (gosu) when started as root, so data written by a stock deployment stays this user's files.
 */
export const REDIS_UID = 999;

/**
 * Pod Security `restricted` (the profile of Kubernetes v1.37), for every pod of a RedisCluster:
 * - not root: runAsNonRoot (the kubelet refuses to start a container that would run as uid 0) with the
 *   image's `redis` user, since our `sh -c` entrypoint bypasses the image's own drop from root;
 * - fsGroup: the kubelet makes the volumes group-owned by 999 and group-writable, which is also what lets
 *   pods that ran as root before (files on the PVC owned by root) keep writing their AOF after an upgrade.
 *   OnRootMismatch: the recursive walk happens only when the volume's root is not already right, so a pod
 *   with a large dataset restarts without a walk over every file (during an outage, that matters);
 * - seccomp RuntimeDefault: the container runtime's default syscall filter.
 */
export const podSecurityContext: Readonly<V1PodSecurityContext> = {
  runAsNonRoot: true,
  runAsUser: REDIS_UID,
  runAsGroup: REDIS_UID,
  fsGroup: REDIS_UID,
  fsGroupChangePolicy: "OnRootMismatch",
  seccompProfile: { type: "RuntimeDefault" },
};

/**
 * Per container (Pod Security checks these on each container, init containers included): no capability
 * (Redis needs none: it binds 6379/26379, above 1024), no setuid gain, and a read-only root filesystem —
 * redis-server writes only to `dir` (/data: AOF, RDB, their temporary files), Sentinel only to /sentinel
 * (its config rewrites), the entrypoint only to CONFIG_DIR.
 */
export const containerSecurityContext: Readonly<V1SecurityContext> = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};
