/**
 * Pod volumes as host directories: ConfigMap and Secret volumes are written as files (and refreshed when the
 * object changes), emptyDir lives with the pod, a PersistentVolumeClaim is a directory that outlives pods and
 * goes with the claim. The container process sees them at their mountPaths through bind mounts.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isObject, type JsonObject, type KubeObject } from "../api/types.ts";

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
    }[];
    defaultMode?: number;
  };
  downwardAPI?: JsonObject;
  hostPath?: { path: string };
}

export class MissingObjectError extends Error {}

export type ObjectLookup = (
  kind: "configmaps" | "secrets" | "persistentvolumeclaims",
  namespace: string,
  name: string,
) => KubeObject | undefined;

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
 */
export function materializeVolumes(
  pod: KubeObject,
  podDir: string,
  pvcRoot: string,
  lookup: ObjectLookup,
): Map<string, string> {
  const namespace = pod.metadata.namespace ?? "";
  const volumes = ((pod.spec as JsonObject | undefined)?.volumes ?? []) as VolumeSource[];
  const out = new Map<string, string>();
  for (const volume of volumes) {
    const dir = join(podDir, "volumes", volume.name);
    if (volume.configMap) {
      const cm = lookup("configmaps", namespace, volume.configMap.name);
      if (!cm && !volume.configMap.optional)
        throw new MissingObjectError(`configmap "${volume.configMap.name}" not found`);
      writeFiles(
        dir,
        filesOf(cm, "configmaps", volume.configMap.items),
        volume.configMap.defaultMode ?? 0o644,
      );
    } else if (volume.secret) {
      const secret = lookup("secrets", namespace, volume.secret.secretName);
      if (!secret && !volume.secret.optional)
        throw new MissingObjectError(`secret "${volume.secret.secretName}" not found`);
      writeFiles(dir, filesOf(secret, "secrets", volume.secret.items), volume.secret.defaultMode ?? 0o644);
    } else if (volume.projected) {
      const files = new Map<string, { content: Buffer; mode?: number }>();
      for (const source of volume.projected.sources ?? []) {
        if (source.configMap) {
          const cm = lookup("configmaps", namespace, source.configMap.name);
          if (!cm && !source.configMap.optional)
            throw new MissingObjectError(`configmap "${source.configMap.name}" not found`);
          for (const [k, v] of filesOf(cm, "configmaps", source.configMap.items)) files.set(k, v);
        }
        if (source.secret) {
          const secret = lookup("secrets", namespace, source.secret.name);
          if (!secret && !source.secret.optional)
            throw new MissingObjectError(`secret "${source.secret.name}" not found`);
          for (const [k, v] of filesOf(secret, "secrets", source.secret.items)) files.set(k, v);
        }
      }
      writeFiles(dir, files, volume.projected.defaultMode ?? 0o644);
    } else if (volume.persistentVolumeClaim) {
      const claim = lookup("persistentvolumeclaims", namespace, volume.persistentVolumeClaim.claimName);
      if (!claim)
        throw new MissingObjectError(
          `persistentvolumeclaim "${volume.persistentVolumeClaim.claimName}" not found`,
        );
      const pvcDir = join(pvcRoot, namespace, volume.persistentVolumeClaim.claimName);
      mkdirSync(pvcDir, { recursive: true });
      out.set(volume.name, pvcDir);
      continue;
    } else if (volume.hostPath) {
      out.set(volume.name, volume.hostPath.path);
      continue;
    } else {
      // emptyDir, and anything else, is an empty directory that lives as long as the pod.
      mkdirSync(dir, { recursive: true });
    }
    out.set(volume.name, dir);
  }
  return out;
}
