/**
 * Pod volumes as host directories: ConfigMap and Secret volumes are written as files (and refreshed when the
 * object changes), emptyDir lives with the pod, a PersistentVolumeClaim is a directory that outlives pods and
 * goes with the claim. The container process sees them at their mountPaths through bind mounts.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isObject, type JsonObject, type KubeObject } from "../api/types.ts";
import { setVolumeOwnership, type PodSecurityContextSpec } from "./security.ts";

export interface VolumeSource {
  name: string;
  configMap?: {
    name: string;
    items?: { key: string; path: string; mode?: number }[];
    defaultMode?: number;
    optional?: boolean;
  };
  secret?: {
    secretName: string;
    items?: { key: string; path: string; mode?: number }[];
    defaultMode?: number;
    optional?: boolean;
  };
  emptyDir?: JsonObject;
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  projected?: {
    sources?: {
      configMap?: VolumeSource["configMap"];
      secret?: { name: string; items?: { key: string; path: string; mode?: number }[]; optional?: boolean };
      serviceAccountToken?: { path: string; audience?: string; expirationSeconds?: number };
      downwardAPI?: { items?: { path: string; fieldRef?: { fieldPath: string } }[] };
    }[];
    defaultMode?: number;
  };
  downwardAPI?: JsonObject;
  hostPath?: { path: string };
}

export class MissingObjectError extends Error {}

/** What a pod's volumes read from the cluster. */
export interface ObjectLookup {
  object(
    kind: "configmaps" | "secrets" | "persistentvolumeclaims",
    namespace: string,
    name: string,
  ): KubeObject | undefined;
  /** The pod's projected ServiceAccount token for `audience`, or undefined when none is issued. */
  serviceAccountToken(pod: KubeObject, audience: string | undefined): string | undefined;
}

/** The pod fields a downwardAPI volume item may name (the ones kube-api-access volumes use, and labels). */
function downwardValue(pod: KubeObject, fieldPath: string): string {
  switch (fieldPath) {
    case "metadata.namespace":
      return pod.metadata.namespace ?? "";
    case "metadata.name":
      return pod.metadata.name ?? "";
    case "metadata.uid":
      return pod.metadata.uid ?? "";
    case "metadata.labels":
      return Object.entries(pod.metadata.labels ?? {})
        .map(([key, value]) => `${key}="${value}"`)
        .join("\n");
    default:
      return "";
  }
}

/** The files a ConfigMap or Secret volume shows: key → content. */
function filesOf(
  object: KubeObject | undefined,
  kind: "configmaps" | "secrets",
  items: { key: string; path: string; mode?: number }[] | undefined,
): Map<string, { content: Buffer; mode?: number }> {
  const files = new Map<string, { content: Buffer; mode?: number }>();
  if (!object) return files;
  const decode = (value: unknown, binary: boolean): Buffer =>
    binary || kind === "secrets" ? Buffer.from(String(value), "base64") : Buffer.from(String(value));
  const entries = new Map<string, Buffer>();
  if (isObject(object.data))
    for (const [k, v] of Object.entries(object.data)) entries.set(k, decode(v, false));
  if (isObject(object.binaryData))
    for (const [k, v] of Object.entries(object.binaryData)) entries.set(k, decode(v, true));
  if (items && items.length > 0) {
    for (const item of items) {
      const content = entries.get(item.key);
      if (content) files.set(item.path, { content, ...(item.mode !== undefined ? { mode: item.mode } : {}) });
    }
  } else {
    for (const [k, content] of entries) files.set(k, { content });
  }
  return files;
}

function writeFiles(
  dir: string,
  files: Map<string, { content: Buffer; mode?: number }>,
  defaultMode: number,
): void {
  mkdirSync(dir, { recursive: true });
  // Remove keys that disappeared (top-level entries only: keys are flat in practice).
  for (const entry of readdirSync(dir)) {
    if (![...files.keys()].some((path) => path === entry || path.startsWith(`${entry}/`)))
      rmSync(join(dir, entry), { recursive: true, force: true });
  }
  for (const [path, file] of files) {
    const target = join(dir, path);
    mkdirSync(dirname(target), { recursive: true });
    let current: Buffer | undefined;
    try {
      current = readFileSync(target);
    } catch {
      current = undefined;
    }
    // In place, so a subPath bind mount of this file sees the new content.
    if (!current || !current.equals(file.content)) writeFileSync(target, file.content);
    chmodSync(target, file.mode ?? defaultMode);
  }
}

/**
 * Materializes the pod's volumes and returns name → host directory. Throws MissingObjectError when a
 * referenced ConfigMap or Secret (not optional) does not exist yet — the kubelet retries, like FailedMount.
 * With the pod's fsGroup, every volume but a hostPath is group-owned by it (setVolumeOwnership): ConfigMap,
 * Secret and projected files group-readable, emptyDir and claims group-writable. An emptyDir and a new
 * claim's directory start world-writable (0777), as a kubelet's emptyDir and hostPath provisioners' do.
 */
export function materializeVolumes(
  pod: KubeObject,
  podDir: string,
  pvcRoot: string,
  lookup: ObjectLookup,
): Map<string, string> {
  const namespace = pod.metadata.namespace ?? "";
  const volumes = ((pod.spec as JsonObject | undefined)?.volumes ?? []) as VolumeSource[];
  const security = (pod.spec as JsonObject | undefined)?.securityContext as
    PodSecurityContextSpec | undefined;
  const fsGroup = security?.fsGroup;
  // The kubelet applies fsGroupChangePolicy to emptyDir and claims; files it writes itself get it each time.
  const own = (dir: string, readOnly: boolean, policy: PodSecurityContextSpec["fsGroupChangePolicy"]) => {
    if (fsGroup !== undefined) setVolumeOwnership(dir, fsGroup, readOnly, policy);
  };
  const worldWritableDir = (dir: string) => {
    if (existsSync(dir)) return;
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
  };
  const out = new Map<string, string>();
  for (const volume of volumes) {
    const dir = join(podDir, "volumes", volume.name);
    if (volume.configMap) {
      const cm = lookup.object("configmaps", namespace, volume.configMap.name);
      if (!cm && !volume.configMap.optional)
        throw new MissingObjectError(`configmap "${volume.configMap.name}" not found`);
      writeFiles(
        dir,
        filesOf(cm, "configmaps", volume.configMap.items),
        volume.configMap.defaultMode ?? 0o644,
      );
      own(dir, true, undefined);
    } else if (volume.secret) {
      const secret = lookup.object("secrets", namespace, volume.secret.secretName);
      if (!secret && !volume.secret.optional)
        throw new MissingObjectError(`secret "${volume.secret.secretName}" not found`);
      writeFiles(dir, filesOf(secret, "secrets", volume.secret.items), volume.secret.defaultMode ?? 0o644);
      own(dir, true, undefined);
    } else if (volume.projected) {
      const files = new Map<string, { content: Buffer; mode?: number }>();
      for (const source of volume.projected.sources ?? []) {
        if (source.configMap) {
          const cm = lookup.object("configmaps", namespace, source.configMap.name);
          if (!cm && !source.configMap.optional)
            throw new MissingObjectError(`configmap "${source.configMap.name}" not found`);
          for (const [k, v] of filesOf(cm, "configmaps", source.configMap.items)) files.set(k, v);
        }
        if (source.secret) {
          const secret = lookup.object("secrets", namespace, source.secret.name);
          if (!secret && !source.secret.optional)
            throw new MissingObjectError(`secret "${source.secret.name}" not found`);
          for (const [k, v] of filesOf(secret, "secrets", source.secret.items)) files.set(k, v);
        }
        if (source.serviceAccountToken) {
          const token = lookup.serviceAccountToken(pod, source.serviceAccountToken.audience);
          if (token === undefined) throw new MissingObjectError("no ServiceAccount token issued for the pod");
          files.set(source.serviceAccountToken.path, { content: Buffer.from(token) });
        }
        for (const item of source.downwardAPI?.items ?? []) {
          const value = downwardValue(pod, item.fieldRef?.fieldPath ?? "");
          files.set(item.path, { content: Buffer.from(value) });
        }
      }
      writeFiles(dir, files, volume.projected.defaultMode ?? 0o644);
      own(dir, true, undefined);
    } else if (volume.persistentVolumeClaim) {
      const claim = lookup.object(
        "persistentvolumeclaims",
        namespace,
        volume.persistentVolumeClaim.claimName,
      );
      if (!claim)
        throw new MissingObjectError(
          `persistentvolumeclaim "${volume.persistentVolumeClaim.claimName}" not found`,
        );
      const pvcDir = join(pvcRoot, namespace, volume.persistentVolumeClaim.claimName);
      worldWritableDir(pvcDir);
      own(pvcDir, volume.persistentVolumeClaim.readOnly ?? false, security?.fsGroupChangePolicy);
      out.set(volume.name, pvcDir);
      continue;
    } else if (volume.hostPath) {
      out.set(volume.name, volume.hostPath.path);
      continue;
    } else {
      // emptyDir, and anything else, is an empty directory that lives as long as the pod.
      worldWritableDir(dir);
      own(dir, false, security?.fsGroupChangePolicy);
    }
    out.set(volume.name, dir);
  }
  return out;
}
