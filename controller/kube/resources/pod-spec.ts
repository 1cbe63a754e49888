/**
 * The StatefulSet of a RedisCluster: its pod template (the redis container and, in `mode: sentinel`, the
 * Sentinel sidecar), its volumes and its volume claims.
 */
import type {
  V1Container,
  V1EnvVar,
  V1PersistentVolumeClaim,
  V1PodSpec,
  V1ResourceRequirements,
  V1StatefulSet,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { REDIS_PORT } from "../../model/pods.ts";
import { usersSecretName } from "../../redis/users.ts";
import { TLS_MOUNT } from "../tls-files.ts";
import { entrypointScript, readinessScript } from "./entrypoint.ts";
import { CLUSTER_LABEL, SPEC_HASH_ANNOTATION, clusterLabels, ownerReference, specHash } from "./metadata.ts";
import { AUTH_MOUNT, USERS_MOUNT, podSecretFiles, type SecretFiles } from "./secret-files.ts";
import { containerSecurityContext, podSecurityContext } from "./security.ts";
import { SENTINEL_PORT, sentinelScript } from "./sentinel-config.ts";
import { headlessServiceName } from "./services.ts";

const DEFAULT_IMAGE = "redis:7.2";

/**
 * Where the redis container may write besides /data: its root filesystem is read-only, so anything the
 * entrypoint generates at start (a config or ACL file) goes here. Memory-backed, so what it holds (it may
 * hold passwords) never reaches a disk, and it is gone with the pod.
 */
const CONFIG_DIR = "/etc/redis-dr/run";

type ClusterSpec = RedisCluster["spec"];

const imageOf = (spec: ClusterSpec) =>
  spec.image !== undefined && spec.image !== "" ? spec.image : DEFAULT_IMAGE;

const tlsMounts = (tls: boolean): V1VolumeMount[] =>
  tls ? [{ name: "tls", mountPath: TLS_MOUNT, readOnly: true }] : [];

/** The passwords the entrypoints read (never environment variables of redis-server or redis-sentinel). */
const secretMounts = (auth: boolean): V1VolumeMount[] => [
  ...(auth ? [{ name: "auth", mountPath: AUTH_MOUNT, readOnly: true }] : []),
  { name: "redis-dr-users", mountPath: USERS_MOUNT, readOnly: true },
];

function quantities(
  map: Record<string, number | string | undefined> | undefined,
): Record<string, string> | undefined {
  if (map === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) if (v !== undefined) out[k] = String(v);
  return out;
}

function resourcesOf(spec: ClusterSpec): { resources?: V1ResourceRequirements } {
  if (spec.resources === undefined) return {};
  const { limits, requests } = spec.resources;
  return {
    resources: {
      ...(limits === undefined ? {} : { limits: quantities(limits) }),
      ...(requests === undefined ? {} : { requests: quantities(requests) }),
    },
  };
}

/**
 * For the readiness probe and `kubectl exec` users (REDISCLI_AUTH="$REDIS_PASSWORD"); the entrypoint reads
 * the mounted file and unsets this before it execs redis-server.
 */
function passwordEnv(spec: ClusterSpec): V1EnvVar[] {
  if (spec.authSecret === undefined) return [];
  return [
    { name: "REDIS_PASSWORD", valueFrom: { secretKeyRef: { name: spec.authSecret.name, key: "password" } } },
  ];
}

function redisContainer(spec: ClusterSpec, files: SecretFiles): V1Container {
  const tls = spec.tlsSecret !== undefined;
  return {
    name: "redis",
    image: imageOf(spec),
    command: ["sh", "-c", entrypointScript(tls, files)],
    ports: [{ name: "redis", containerPort: REDIS_PORT }],
    securityContext: { ...containerSecurityContext },
    env: passwordEnv(spec),
    ...resourcesOf(spec),
    readinessProbe: {
      exec: { command: ["sh", "-c", readinessScript(tls)] },
      periodSeconds: 5,
      failureThreshold: 3,
    },
    volumeMounts: [
      { name: "data", mountPath: "/data" },
      { name: "config", mountPath: CONFIG_DIR },
      ...tlsMounts(tls),
      ...secretMounts(spec.authSecret !== undefined),
    ],
  };
}

function sentinelContainer(spec: ClusterSpec, files: SecretFiles): V1Container {
  const tls = spec.tlsSecret !== undefined;
  return {
    name: "sentinel",
    image: imageOf(spec),
    command: ["sh", "-c", sentinelScript(tls, files)],
    ports: [{ name: "sentinel", containerPort: SENTINEL_PORT }],
    securityContext: { ...containerSecurityContext },
    volumeMounts: [
      { name: "sentinel", mountPath: "/sentinel" },
      ...tlsMounts(tls),
      ...secretMounts(spec.authSecret !== undefined),
    ],
  };
}

function podVolumes(name: string, spec: ClusterSpec): V1Volume[] {
  return [
    ...(spec.storage === undefined ? [{ name: "data", emptyDir: {} }] : []),
    { name: "config", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
    ...(spec.mode === "sentinel" ? [{ name: "sentinel", emptyDir: {} }] : []),
    ...(spec.tlsSecret === undefined ? [] : [{ name: "tls", secret: { secretName: spec.tlsSecret.name } }]),
    // Readable by the owner and the pod's fsGroup only.
    ...(spec.authSecret === undefined
      ? []
      : [{ name: "auth", secret: { secretName: spec.authSecret.name, defaultMode: 0o440 } }]),
    { name: "redis-dr-users", secret: { secretName: usersSecretName(name), defaultMode: 0o440 } },
  ];
}

function podSpec(name: string, spec: ClusterSpec): V1PodSpec {
  const files = podSecretFiles(spec.authSecret !== undefined);
  const nodeSelector =
    spec.nodeSelector === undefined
      ? undefined
      : Object.fromEntries(
          Object.entries(spec.nodeSelector).filter((e): e is [string, string] => e[1] !== undefined),
        );
  return {
    ...(nodeSelector === undefined ? {} : { nodeSelector }),
    securityContext: { ...podSecurityContext },
    containers: [
      redisContainer(spec, files),
      // The Sentinel sidecar monitors nothing until the controller hands it the cluster (see sentinelScript).
      ...(spec.mode === "sentinel" ? [sentinelContainer(spec, files)] : []),
    ],
    volumes: podVolumes(name, spec),
  };
}

function volumeClaimTemplates(
  storage: NonNullable<ClusterSpec["storage"]>,
  labels: Record<string, string>,
): V1PersistentVolumeClaim[] {
  return [
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
  ];
}

function statefulSetSpec(name: string, spec: ClusterSpec): V1StatefulSet["spec"] {
  const labels = clusterLabels(name);
  return {
    replicas: spec.instances ?? 1,
    serviceName: headlessServiceName(name),
    // Pods start together; their roles come from the controller, not from start order.
    podManagementPolicy: "Parallel",
    selector: { matchLabels: { [CLUSTER_LABEL]: name } },
    template: { metadata: { labels }, spec: podSpec(name, spec) },
    ...(spec.storage === undefined
      ? {}
      : { volumeClaimTemplates: volumeClaimTemplates(spec.storage, labels) }),
  };
}

/**
 * The spec-hash annotation the StatefulSet of `cluster` carries, without keeping what it was computed from.
 * `memo` (per cluster, `namespace/name`) remembers the hash with the exact spec it came from: a pass over an
 * unchanged cluster then costs a JSON serialisation of its spec, not building the StatefulSet (38 µs and
 * ~10 KB of garbage at every resync of every cluster).
 */
export function statefulSetSpecHash(
  cluster: RedisCluster,
  memo?: Map<string, { readonly spec: string; readonly hash: string }>,
): string {
  const name = cluster.metadata?.name ?? "";
  if (memo === undefined) return specHash(statefulSetSpec(name, cluster.spec));
  const key = `${cluster.metadata?.namespace ?? ""}/${name}`;
  const spec = JSON.stringify(cluster.spec);
  const known = memo.get(key);
  if (known?.spec === spec) return known.hash;
  const hash = specHash(statefulSetSpec(name, cluster.spec));
  memo.set(key, { spec, hash });
  return hash;
}

export function statefulSetFor(cluster: RedisCluster): V1StatefulSet {
  const name = cluster.metadata?.name ?? "";
  const stsSpec = statefulSetSpec(name, cluster.spec);
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: {
      name,
      namespace: cluster.metadata?.namespace,
      labels: clusterLabels(name),
      annotations: { [SPEC_HASH_ANNOTATION]: specHash(stsSpec) },
      ownerReferences: [ownerReference(cluster)],
    },
    spec: stsSpec,
  };
}
