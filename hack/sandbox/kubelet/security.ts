/**
 * A pod's securityContext, honoured the way a kubelet and its container runtime do what a process runner
 * without containers can: the container's processes run as runAsUser/runAsGroup with fsGroup and
 * supplementalGroups as supplementary groups, without capabilities when they drop ALL (and without any as a
 * non-root user), with no_new_privs when allowPrivilegeEscalation is false, on a read-only root filesystem
 * when asked (runtime.ts); the pod's volumes are group-owned by fsGroup (setVolumeOwnership, as the kubelet's
 * pkg/volume/volume_linux.go); runAsNonRoot refuses a container that would run as uid 0, with the kubelet's
 * message. Not emulated: seccomp profiles, SELinux/AppArmor options, sysctls, added capabilities.
 */
import { chmodSync, lchownSync, lstatSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ImageKind } from "./image.ts";

export interface SecurityContextSpec {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
}

export interface PodSecurityContextSpec extends SecurityContextSpec {
  fsGroup?: number;
  fsGroupChangePolicy?: "Always" | "OnRootMismatch";
  supplementalGroups?: number[];
}

/** What a container's processes run with. */
export interface ProcessSecurity {
  uid: number;
  gid: number;
  /** Supplementary groups (fsGroup, supplementalGroups). */
  groups: number[];
  noNewPrivileges: boolean;
  /** capabilities.drop contains ALL: an empty bounding set, so not even root keeps a capability. */
  dropAllCapabilities: boolean;
  readOnlyRootFilesystem: boolean;
}

/** The user an image runs as (its USER) and the primary group of the users its /etc/passwd knows. */
const IMAGE_USERS: Record<ImageKind, { user: number; groups: Record<number, number> }> = {
  // The official Redis and Valkey images have no USER (their entrypoint drops to redis with gosu).
  redis: { user: 0, groups: { 0: 0, 999: 999 } },
  valkey: { user: 0, groups: { 0: 0, 999: 999 } },
  // The Dockerfile: USER 65532:65532.
  "redis-dr": { user: 65532, groups: { 0: 0, 65532: 65532 } },
  shell: { user: 0, groups: { 0: 0 } },
  placeholder: { user: 0, groups: { 0: 0 } },
};

/** The owner the image gives its WORKDIR /data (the Redis images' `redis` user), or undefined. */
export const imageDataOwner = (kind: ImageKind): number | undefined =>
  kind === "redis" || kind === "valkey" ? 999 : undefined;

/** `name_namespace(uid)`, as the kubelet's format.Pod names a pod in its messages. */
export const formatPod = (name: string, namespace: string, uid: string) => `${name}_${namespace}(${uid})`;

/**
 * The container's effective security (its own securityContext over the pod's), or the kubelet's
 * CreateContainerConfigError message when runAsNonRoot forbids what it would run as
 * (pkg/kubelet/kuberuntime/security_context_others.go, verifyRunAsNonRoot).
 */
export function processSecurity(
  pod: PodSecurityContextSpec | undefined,
  container: SecurityContextSpec | undefined,
  kind: ImageKind,
  names: { pod: string; container: string },
): ProcessSecurity | { error: string } {
  const runAsUser = container?.runAsUser ?? pod?.runAsUser;
  const runAsNonRoot = container?.runAsNonRoot ?? pod?.runAsNonRoot ?? false;
  const image = IMAGE_USERS[kind];
  if (runAsNonRoot) {
    if (runAsUser === 0)
      return {
        error: `container's runAsUser breaks non-root policy (pod: "${names.pod}", container: ${names.container})`,
      };
    if (runAsUser === undefined && image.user === 0)
      return {
        error: `container has runAsNonRoot and image will run as root (pod: "${names.pod}", container: ${names.container})`,
      };
  }
  const uid = runAsUser ?? image.user;
  // Without runAsGroup, the runtime takes the user's primary group from the image's /etc/passwd (else 0).
  const gid = container?.runAsGroup ?? pod?.runAsGroup ?? image.groups[uid] ?? 0;
  const groups = [
    ...new Set([...(pod?.fsGroup === undefined ? [] : [pod.fsGroup]), ...(pod?.supplementalGroups ?? [])]),
  ];
  return {
    uid,
    gid,
    groups,
    noNewPrivileges: container?.allowPrivilegeEscalation === false,
    dropAllCapabilities: (container?.capabilities?.drop ?? []).some((c) => c.toUpperCase() === "ALL"),
    readOnlyRootFilesystem: container?.readOnlyRootFilesystem === true,
  };
}

/**
 * The command that runs `argv` with `security` (util-linux setpriv). Going from uid 0 to another uid clears
 * the permitted and effective capabilities by itself; the bounding set is emptied for drop: ALL.
 */
export function privilegePrefix(security: ProcessSecurity | undefined): string[] {
  if (security === undefined) return [];
  return [
    "setpriv",
    `--reuid=${security.uid}`,
    `--regid=${security.gid}`,
    ...(security.groups.length > 0 ? [`--groups=${security.groups.join(",")}`] : ["--clear-groups"]),
    ...(security.noNewPrivileges ? ["--no-new-privs"] : []),
    ...(security.dropAllCapabilities ? ["--inh-caps=-all", "--bounding-set=-all"] : []),
    "--",
  ];
}

const RW_MASK = 0o660;
const RO_MASK = 0o440;
const EXEC_MASK = 0o110;
const SETGID = 0o2000;

/** The kubelet's requiresPermissionChange: is the volume's root not yet group-owned and -accessible? */
function requiresPermissionChange(dir: string, fsGroup: number, readOnly: boolean): boolean {
  const info = statSync(dir);
  if (info.gid !== fsGroup || !info.isDirectory()) return true;
  const wanted = (readOnly ? RO_MASK : RW_MASK) | EXEC_MASK;
  return (info.mode & wanted) !== wanted || (info.mode & SETGID) === 0;
}

/**
 * The kubelet's SetVolumeOwnership: every file and directory of the volume gets group fsGroup and the
 * group's read (and, unless the volume is read-only, write) permission; directories get setgid, so what the
 * containers create there is the group's too. OnRootMismatch skips the walk when the root is right already.
 */
export function setVolumeOwnership(
  dir: string,
  fsGroup: number,
  readOnly: boolean,
  policy: PodSecurityContextSpec["fsGroupChangePolicy"],
): void {
  if (policy === "OnRootMismatch" && !requiresPermissionChange(dir, fsGroup, readOnly)) return;
  const walk = (path: string) => {
    const info = lstatSync(path);
    lchownSync(path, -1, fsGroup);
    if (info.isSymbolicLink()) return;
    const mask = (readOnly ? RO_MASK : RW_MASK) | (info.isDirectory() ? SETGID | EXEC_MASK : 0);
    chmodSync(path, (info.mode & 0o7777) | mask);
    if (info.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  walk(dir);
}
