/**
 * The Kubernetes objects a RedisCluster owns, built as pure functions of the RedisCluster.
 */
import { createHash } from "node:crypto";
import type {
  IntOrString,
  V1OwnerReference,
  V1PodDisruptionBudget,
  V1PodSecurityContext,
  V1SecurityContext,
  V1Secret,
  V1Service,
  V1StatefulSet,
} from "@kubernetes/client-node";
import { API_VERSION, KIND } from "../../schemas/rediscluster.ts";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";
import { HOLD_UPSTREAM, REDIS_PORT } from "../reconcile/decisions/pods.ts";
import {
  ADMIN_RULES,
  ADMIN_USER,
  APPLICATION_RULES,
  REPLICATION_RULES,
  REPLICATION_USER,
  SENTINEL_DISCOVERY_RULES,
  SENTINEL_PEER_RULES,
  SENTINEL_RULES,
  SENTINEL_USER,
  USERS_SECRET_KEYS,
  usersSecretName,
  type ClusterUsers,
} from "../redis/users.ts";
import { TLS_FILES, TLS_MOUNT } from "./tls-files.ts";

export const DEFAULT_IMAGE = "redis:7.2";
export const CLUSTER_LABEL = "redis.io/cluster";
export const ROLE_LABEL = "redis.io/role";
export const SPEC_HASH_ANNOTATION = "redis.io/spec-hash";

export const headlessServiceName = (cluster: string) => `${cluster}-headless`;
export const leaderServiceName = (cluster: string) => `${cluster}-leader`;
export const replicasServiceName = (cluster: string) => `${cluster}-replicas`;

/** Where a pod finds the cluster's own Secret (spec.authSecret) and the controller's users Secret. */
export const AUTH_MOUNT = "/etc/redis-dr/auth";
export const USERS_MOUNT = "/etc/redis-dr/users";

export interface SecretFiles {
  /** The directory of spec.authSecret (key `password`, optional key `acl`); undefined without one. */
  readonly auth: string | undefined;
  /** The directory of the controller's users Secret (keys of USERS_SECRET_KEYS). */
  readonly users: string;
}

const podSecretFiles = (auth: boolean): SecretFiles => ({
  auth: auth ? AUTH_MOUNT : undefined,
  users: USERS_MOUNT,
});

/**
 * Shell helpers of the entrypoints. `secret FILE` sets $value to the file's content less one trailing "\n"
 * or "\r\n" — the rule the controller applies too (redis/users.ts, secretText) — without a command
 * substitution around the value, which would strip every trailing newline. `hashed` prints the ACL form of
 * $value's password (`#` and its SHA-256): Redis configuration then holds no password and needs no quoting.
 * `plain NAME` checks that a generated password ($value) can be written unquoted in a configuration file.
 */
const SHELL_HELPERS = [
  "set -eu",
  "umask 077",
  "nl=$(printf '\\nx'); nl=${nl%x}",
  "cr=$(printf '\\rx'); cr=${cr%x}",
  "secret() {",
  '  [ -f "$1" ] || { echo "redis-dr: $1 is missing" >&2; exit 1; }',
  '  value=$(cat "$1"; printf x); value=${value%x}',
  '  case $value in *"$nl") value=${value%"$nl"}; value=${value%"$cr"} ;; esac',
  '  [ -n "$value" ] || { echo "redis-dr: $1 is empty" >&2; exit 1; }',
  "}",
  "hashed() {",
  "  h=$(printf '%s' \"$value\" | sha256sum | cut -d' ' -f1)",
  '  [ ${#h} -eq 64 ] || { echo "redis-dr: sha256sum failed" >&2; exit 1; }',
  '  printf "#%s" "$h"',
  "}",
  "plain() {",
  '  case $value in *[!A-Za-z0-9_-]*) echo "redis-dr: $1 has characters other than A-Z a-z 0-9 _ -" >&2; exit 1 ;; esac',
  "}",
];

/** The application's password (`default` user): the Secret's hash, or nopass for a cluster without one. */
function applicationPassword(files: SecretFiles): string[] {
  if (files.auth === undefined) return ['app_pass="nopass"', 'app_extra=""'];
  return [
    `secret ${files.auth}/password; app_pass=$(hashed)`,
    // Opt-in rights for applications (docs/security.md): the Secret's optional `acl` key, on one line.
    'app_extra=""',
    `if [ -f ${files.auth}/acl ]; then value=$(cat ${files.auth}/acl); app_extra=$(printf '%s' "$value" | tr '\\r\\n' '  '); fi`,
  ];
}

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

/**
 * With `tlsSecret`, Redis speaks only TLS on 6379, also when it replicates (from the source or the leader):
 * the certificate and key are the Secret's tls.crt/tls.key, peers are verified against its ca.crt.
 */
const tlsConfig = [
  "port 0",
  `tls-port ${REDIS_PORT}`,
  `tls-cert-file ${TLS_FILES.cert}`,
  `tls-key-file ${TLS_FILES.key}`,
  `tls-ca-cert-file ${TLS_FILES.ca}`,
  "tls-replication yes",
  "tls-auth-clients no",
];

export function entrypointScript(tls: boolean, files: SecretFiles = podSecretFiles(true)): string {
  return [
    ...SHELL_HELPERS,
    ...applicationPassword(files),
    `secret ${files.users}/${USERS_SECRET_KEYS.admin}; admin_pass=$(hashed)`,
    `secret ${files.users}/${USERS_SECRET_KEYS.sentinel}; sentinel_pass=$(hashed)`,
    `secret ${files.users}/${USERS_SECRET_KEYS.replication}; plain ${USERS_SECRET_KEYS.replication}; replication_pass=$(hashed); replication_auth=$value`,
    "unset REDIS_PASSWORD value",
    "exec redis-server - <<END_OF_CONFIG",
    ...(tls ? tlsConfig : [`port ${REDIS_PORT}`]),
    "protected-mode no",
    "dir /data",
    "appendonly yes",
    "appendfsync everysec",
    "save 3600 1 300 100 60 10000",
    `replicaof ${HOLD_UPSTREAM.host} ${HOLD_UPSTREAM.port}`,
    "replica-read-only yes",
    // Sentinel never elects a pod before its first copy is complete (replication/pod-actions.ts, markElectable).
    "replica-priority 0",
    `user default on $app_pass ${APPLICATION_RULES} $app_extra`,
    `user ${ADMIN_USER} on $admin_pass ${ADMIN_RULES}`,
    `user ${REPLICATION_USER} on $replication_pass ${REPLICATION_RULES}`,
    `user ${SENTINEL_USER} on $sentinel_pass ${SENTINEL_RULES}`,
    // A pod Sentinel (or anyone) re-points at another pod of the cluster authenticates as the replication user.
    `masteruser ${REPLICATION_USER}`,
    "masterauth $replication_auth",
    "END_OF_CONFIG",
    "",
  ].join("\n");
}

/**
 * Readiness: Redis answers PING (a loading instance does not). REDISCLI_AUTH keeps the password out of argv;
 * the password loses one trailing newline, as in the entrypoint.
 */
function readinessScript(tls: boolean): string {
  const tlsFlags = tls ? ` --tls --cacert ${TLS_FILES.ca}` : "";
  return [
    "nl=$(printf '\\nx'); nl=${nl%x}; cr=$(printf '\\rx'); cr=${cr%x}",
    'p=${REDIS_PASSWORD:-}; case $p in *"$nl") p=${p%"$nl"}; p=${p%"$cr"} ;; esac',
    `REDISCLI_AUTH="$p" redis-cli${tlsFlags} -p ${REDIS_PORT} ping | grep -q PONG`,
  ].join("\n");
}

export const SENTINEL_PORT = 26379;

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
    // With TLS, Sentinel speaks only TLS: to the pods, to the other Sentinels and to the controller.
    ...(tls ? ["port 0", `tls-port ${SENTINEL_PORT}`, "tls-auth-clients no"] : [`port ${SENTINEL_PORT}`]),
    "dir /sentinel",
    // The controller names pods by IP; a DR pod of another cluster announces a name that never resolves
    // (replication/pod-actions.ts): with hostnames unresolved, Sentinel does not even list it.
    "sentinel resolve-hostnames no",
    ...(tls
      ? [
          `tls-cert-file ${TLS_FILES.cert}`,
          `tls-key-file ${TLS_FILES.key}`,
          `tls-ca-cert-file ${TLS_FILES.ca}`,
          "tls-replication yes",
        ]
      : []),
    `user default on $app_pass ${SENTINEL_DISCOVERY_RULES}`,
    `user ${ADMIN_USER} on $admin_pass ${ADMIN_RULES}`,
    `user ${SENTINEL_USER} on $sentinel_pass ${SENTINEL_PEER_RULES}`,
    `sentinel sentinel-user ${SENTINEL_USER}`,
    "sentinel sentinel-pass $sentinel_auth",
    "END_OF_CONFIG",
    "fi",
    "unset value",
    'exec redis-sentinel "$conf"',
    "",
  ].join("\n");
}

/**
 * The uid and gid the Redis and Sentinel processes run as: the `redis` user and group of the official Redis
 * (and Valkey) images, Debian and Alpine alike. The image's /data belongs to it and its own entrypoint drops
 * to it (gosu) when started as root, so data written by a stock deployment stays this user's files.
 */
export const REDIS_UID = 999;

/**
 * Where the redis container may write besides /data: its root filesystem is read-only, so anything the
 * entrypoint generates at start (a config or ACL file) goes here. Memory-backed, so what it holds (it may
 * hold passwords) never reaches a disk, and it is gone with the pod.
 */
export const CONFIG_DIR = "/etc/redis-dr/run";

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

export function ownerReference(cluster: RedisCluster): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: cluster.metadata?.name ?? "",
    uid: cluster.metadata?.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

const clusterLabels = (name: string) => ({
  [CLUSTER_LABEL]: name,
  "app.kubernetes.io/name": "redis",
  "app.kubernetes.io/instance": name,
  "app.kubernetes.io/managed-by": "redis-dr",
});

function quantities(
  map: Record<string, number | string | undefined> | undefined,
): Record<string, string> | undefined {
  if (map === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) if (v !== undefined) out[k] = String(v);
  return out;
}

export function statefulSetFor(cluster: RedisCluster): V1StatefulSet {
  const name = cluster.metadata?.name ?? "";
  const spec = cluster.spec;
  const labels = clusterLabels(name);
  const storage = spec.storage;
  const tls = spec.tlsSecret !== undefined;
  // The Sentinel sidecar monitors nothing until the controller hands it the cluster (see sentinelScript).
  const sentinel = spec.mode === "sentinel";
  const image = spec.image !== undefined && spec.image !== "" ? spec.image : DEFAULT_IMAGE;
  const auth = spec.authSecret !== undefined;
  const files = podSecretFiles(auth);
  // The passwords the entrypoints read (never environment variables of redis-server or redis-sentinel).
  const secretMounts = [
    ...(auth ? [{ name: "auth", mountPath: AUTH_MOUNT, readOnly: true }] : []),
    { name: "redis-dr-users", mountPath: USERS_MOUNT, readOnly: true },
  ];
  const sentinelContainer = {
    name: "sentinel",
    image,
    command: ["sh", "-c", sentinelScript(tls, files)],
    ports: [{ name: "sentinel", containerPort: SENTINEL_PORT }],
    securityContext: { ...containerSecurityContext },
    volumeMounts: [
      { name: "sentinel", mountPath: "/sentinel" },
      ...(tls ? [{ name: "tls", mountPath: TLS_MOUNT, readOnly: true }] : []),
      ...secretMounts,
    ],
  };
  const volumes = [
    ...(storage === undefined ? [{ name: "data", emptyDir: {} }] : []),
    { name: "config", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
    ...(sentinel ? [{ name: "sentinel", emptyDir: {} }] : []),
    ...(spec.tlsSecret === undefined ? [] : [{ name: "tls", secret: { secretName: spec.tlsSecret.name } }]),
    // Readable by the owner and the pod's fsGroup only.
    ...(spec.authSecret === undefined
      ? []
      : [{ name: "auth", secret: { secretName: spec.authSecret.name, defaultMode: 0o440 } }]),
    { name: "redis-dr-users", secret: { secretName: usersSecretName(name), defaultMode: 0o440 } },
  ];
  const nodeSelector =
    spec.nodeSelector === undefined
      ? undefined
      : Object.fromEntries(
          Object.entries(spec.nodeSelector).filter((e): e is [string, string] => e[1] !== undefined),
        );
  const stsSpec: V1StatefulSet["spec"] = {
    replicas: spec.instances ?? 1,
    serviceName: headlessServiceName(name),
    // Pods start together; their roles come from the controller, not from start order.
    podManagementPolicy: "Parallel",
    selector: { matchLabels: { [CLUSTER_LABEL]: name } },
    template: {
      metadata: { labels },
      spec: {
        ...(nodeSelector === undefined ? {} : { nodeSelector }),
        securityContext: { ...podSecurityContext },
        containers: [
          {
            name: "redis",
            image: spec.image !== undefined && spec.image !== "" ? spec.image : DEFAULT_IMAGE,
            command: ["sh", "-c", entrypointScript(tls, files)],
            ports: [{ name: "redis", containerPort: REDIS_PORT }],
            securityContext: { ...containerSecurityContext },
            // For the readiness probe and `kubectl exec` users (REDISCLI_AUTH="$REDIS_PASSWORD"); the entrypoint
            // reads the mounted file and unsets this before it execs redis-server.
            env:
              spec.authSecret === undefined
                ? []
                : [
                    {
                      name: "REDIS_PASSWORD",
                      valueFrom: { secretKeyRef: { name: spec.authSecret.name, key: "password" } },
                    },
                  ],
            ...(spec.resources === undefined
              ? {}
              : {
                  resources: {
                    ...(spec.resources.limits === undefined
                      ? {}
                      : { limits: quantities(spec.resources.limits) }),
                    ...(spec.resources.requests === undefined
                      ? {}
                      : { requests: quantities(spec.resources.requests) }),
                  },
                }),
            readinessProbe: {
              exec: { command: ["sh", "-c", readinessScript(tls)] },
              periodSeconds: 5,
              failureThreshold: 3,
            },
            volumeMounts: [
              { name: "data", mountPath: "/data" },
              { name: "config", mountPath: CONFIG_DIR },
              ...(tls ? [{ name: "tls", mountPath: TLS_MOUNT, readOnly: true }] : []),
              ...secretMounts,
            ],
          },
          ...(sentinel ? [sentinelContainer] : []),
        ],
        volumes,
      },
    },
    ...(storage === undefined
      ? {}
      : {
          volumeClaimTemplates: [
            {
              metadata: { name: "data", labels },
              spec: {
                accessModes: ["ReadWriteOnce"],
                resources: { requests: { storage: String(storage.size) } },
                ...(storage.storageClass === undefined || storage.storageClass === ""
                  ? {}
                  : { storageClassName: storage.storageClass }),
              },
            },
          ],
        }),
  };
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: {
      name,
      namespace: cluster.metadata?.namespace,
      labels,
      annotations: { [SPEC_HASH_ANNOTATION]: specHash(stsSpec) },
      ownerReferences: [ownerReference(cluster)],
    },
    spec: stsSpec,
  };
}

/**
 * At most one Redis pod of the cluster voluntarily down at a time: a node drain (or a cluster upgrade)
 * evicts the pods one by one and waits until the evicted one is Ready again, so the other copies of the
 * data stay up — in a DR cluster, the copy you would promote. maxUnavailable rather than minAvailable so it
 * also fits `instances: 1`: there the one pod may be evicted (a single copy has no redundancy to keep, and a
 * budget that never allows an eviction would block every drain of its node); the budget is there already
 * when the cluster is scaled up, with no object to create or delete on scaling.
 * unhealthyPodEvictionPolicy AlwaysAllow: a pod that is not Ready (still loading its dataset, crash-looping)
 * may always be evicted — it serves nothing, its data stays on its volume — so a broken pod never blocks a
 * drain, while the healthy ones stay protected.
 */
export function podDisruptionBudgetFor(cluster: RedisCluster): V1PodDisruptionBudget {
  const name = cluster.metadata?.name ?? "";
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: {
      // The StatefulSet's name: another kind, so no clash, and no suffix for the name's length bound.
      name,
      namespace: cluster.metadata?.namespace,
      labels: clusterLabels(name),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: { [CLUSTER_LABEL]: name } },
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    },
  };
}

function service(
  cluster: RedisCluster,
  name: string,
  selector: Record<string, string>,
  headless: boolean,
): V1Service {
  const clusterName = cluster.metadata?.name ?? "";
  const targetPort: IntOrString = REDIS_PORT;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace: cluster.metadata?.namespace,
      labels: clusterLabels(clusterName),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      selector,
      ports: [{ name: "redis", port: REDIS_PORT, targetPort }],
      ...(headless ? { clusterIP: "None", publishNotReadyAddresses: true } : {}),
    },
  };
}

export function servicesFor(cluster: RedisCluster): V1Service[] {
  const name = cluster.metadata?.name ?? "";
  return [
    service(cluster, headlessServiceName(name), { [CLUSTER_LABEL]: name }, true),
    service(cluster, leaderServiceName(name), { [CLUSTER_LABEL]: name, [ROLE_LABEL]: "primary" }, false),
    service(cluster, replicasServiceName(name), { [CLUSTER_LABEL]: name, [ROLE_LABEL]: "replica" }, false),
  ];
}

export function specHash(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}

/**
 * The Secret holding the passwords of the cluster's Redis users (redis/users.ts), created by the controller
 * and owned by the RedisCluster (deleted with it). The pods mount it; nobody else needs it.
 */
export function usersSecretFor(cluster: RedisCluster, users: ClusterUsers): V1Secret {
  const name = cluster.metadata?.name ?? "";
  const encode = (value: string) => Buffer.from(value).toString("base64");
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: usersSecretName(name),
      namespace: cluster.metadata?.namespace,
      labels: clusterLabels(name),
      ownerReferences: [ownerReference(cluster)],
    },
    type: "Opaque",
    data: {
      [USERS_SECRET_KEYS.admin]: encode(users.admin),
      [USERS_SECRET_KEYS.replication]: encode(users.replication),
      [USERS_SECRET_KEYS.sentinel]: encode(users.sentinel),
    },
  };
}
