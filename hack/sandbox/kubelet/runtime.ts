/**
 * The container runtime: one container = one host process tree started as
 *   setpriv --pdeathsig KILL -- unshare --mount --uts --pid --fork --kill-child --mount-proc \
 *     --propagation private -- sh launch.sh <argv>
 * so that it has its own mount namespace (volumes bind-mounted at their real mountPaths, its own /etc/hosts
 * and /tmp, the image's binaries in /usr/local/bin), its own hostname, and dies with the sandbox even if the
 * sandbox process is killed (parent-death signal → unshare → --kill-child → the whole PID namespace).
 * The pod's network identity comes from podnet.so (LD_PRELOAD), see podnet.c.
 */
import { imageDependencies } from "../../k8s/image.ts";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { privilegePrefix, type ProcessSecurity } from "./security.ts";

export interface Mount {
  /** Host path (a directory, or a file for subPath mounts of files). */
  source: string;
  /** Path inside the container. */
  target: string;
  readOnly: boolean;
}

export interface ContainerLaunch {
  argv: string[];
  env: Record<string, string>;
  workingDir: string;
  hostname: string;
  mounts: Mount[];
  hostsFile: string;
  logFile: string;
  /** Directory for the launch script and the container's writable /data. */
  containerDir: string;
  /** The image's /data (WORKDIR of the Redis images), private to the container. */
  imageDataDir: string | undefined;
  /** The image's /app (our own image's compiled programs), read-only. */
  imageAppDir: string | undefined;
  podTmpDir: string;
  /** The user, groups and privileges of the container's processes (security.ts); undefined: root. */
  security?: ProcessSecurity;
}

export interface RuntimeFiles {
  podnetLibrary: string;
  imageBinDir: string;
  /** The compiled programs of our own image (`redis-dr`), as the Dockerfile lays out /app; see hack/k8s/image.ts. */
  appDir?: string;
}

export interface ContainerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves true once the container's mounts are done and its command is being executed. */
  readonly started: Promise<boolean>;
}

const quote = (value: string): string => `'${value.replaceAll("'", `'"'"'`)}'`;

const CHECKS: [string, string[]][] = [
  ["unshare", ["--help"]],
  ["setpriv", ["--help"]],
  ["nsenter", ["--help"]],
];

/** Fails with a clear message when the host cannot run pods (no unshare, no privileges, no compiler). */
export function checkHost(): void {
  for (const [binary, args] of CHECKS) {
    const result = spawnSync(binary, args, { stdio: "ignore" });
    if (result.error)
      throw new Error(`the sandbox pod runner needs \`${binary}\` (util-linux): ${result.error.message}`);
  }
  const probe = spawnSync(
    "unshare",
    ["--mount", "--uts", "--pid", "--fork", "--propagation", "private", "true"],
    { encoding: "utf8" },
  );
  if (probe.status !== 0) {
    throw new Error(
      `the sandbox pod runner needs to create mount, UTS and PID namespaces (root with CAP_SYS_ADMIN): \`unshare\` failed: ${probe.stderr.trim()}`,
    );
  }
}

/** Builds podnet.so (cached by source hash) and the image's /usr/local/bin (redis binaries, entrypoint). */
export function prepareRuntimeFiles(
  cacheDir: string,
  podnetSource: string,
  redisBinDir = "/usr/bin",
): RuntimeFiles {
  mkdirSync(cacheDir, { recursive: true });
  const source = readFileSync(podnetSource);
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 12);
  const library = join(cacheDir, `podnet-${hash}.so`);
  if (!existsSync(library)) {
    const tmp = `${library}.${process.pid}.tmp`;
    const result = spawnSync("cc", ["-shared", "-fPIC", "-O2", "-o", tmp, podnetSource, "-ldl"], {
      encoding: "utf8",
    });
    if (result.status !== 0)
      throw new Error(`cannot build podnet.so with cc: ${result.stderr || String(result.error)}`);
    spawnSync("mv", ["-f", tmp, library]);
  }
  const bin = join(cacheDir, `image-bin-${hash}`);
  mkdirSync(bin, { recursive: true });
  const server = (binary: string) =>
    [
      "#!/bin/sh",
      "# The official redis/valkey images are built with protected-mode off; the host's binary is not.",
      'for a in "$@"; do [ "$a" = "--protected-mode" ] && exec ' + `${redisBinDir}/${binary} "$@"; done`,
      'case "$1" in ""|-*) ;; *) if [ -f "$1" ] && grep -qiE \'^[[:space:]]*protected-mode\' "$1"; then exec ' +
        `${redisBinDir}/${binary} "$@"; fi;; esac`,
      `exec ${redisBinDir}/${binary} "$@" --protected-mode no`,
      "",
    ].join("\n");
  const entrypoint = [
    "#!/bin/sh",
    "# Like the official images' docker-entrypoint.sh: a first argument that is an option or a .conf file",
    "# means redis-server.",
    "set -e",
    'case "$1" in -*|*.conf) set -- redis-server "$@";; esac',
    'exec "$@"',
    "",
  ].join("\n");
  const files: Record<string, string> = {
    "redis-server": server("redis-server"),
    "valkey-server": server("redis-server"),
    "redis-sentinel": server("redis-sentinel"),
    "valkey-sentinel": server("redis-sentinel"),
    "docker-entrypoint.sh": entrypoint,
    // Our own image's ENTRYPOINT: the Node.js running the sandbox.
    node: `#!/bin/sh\nexec ${quote(process.execPath)} "$@"\n`,
  };
  for (const [name, content] of Object.entries(files)) {
    const target = join(bin, name);
    if (existsSync(target) && readFileSync(target, "utf8") === content) continue;
    // Other sandboxes (parallel test files) may be running these scripts: replace, never rewrite in place.
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, content, { mode: 0o755 });
    renameSync(tmp, target);
  }
  for (const tool of ["redis-cli", "redis-check-aof", "redis-check-rdb", "redis-benchmark"]) {
    const link = join(bin, tool);
    if (!existsSync(link)) spawnSync("ln", ["-sf", `${redisBinDir}/${tool}`, link]);
    const valkey = join(bin, tool.replace("redis", "valkey"));
    if (!existsSync(valkey)) spawnSync("ln", ["-sf", `${redisBinDir}/${tool}`, valkey]);
  }
  return { podnetLibrary: library, imageBinDir: bin };
}

function launchScript(launch: ContainerLaunch, files: RuntimeFiles): string {
  const lines = ["set -e", `mount --bind ${quote(files.imageBinDir)} /usr/local/bin`];
  if (launch.imageDataDir) lines.push("mkdir -p /data", `mount --bind ${quote(launch.imageDataDir)} /data`);
  if (launch.imageAppDir)
    lines.push(
      "mkdir -p /app",
      `mount --bind ${quote(launch.imageAppDir)} /app`,
      // The dependencies, bound now: a private /tmp mounted below may hide the checkout they live in.
      `mount --bind ${quote(imageDependencies())} /app/node_modules`,
      "mount -o remount,bind,ro /app",
      "mount -o remount,bind,ro /app/node_modules",
    );
  const mounts = [...launch.mounts].sort((a, b) => a.target.split("/").length - b.target.split("/").length);
  for (const mount of mounts) {
    const isFile = existsSync(mount.source) && statSync(mount.source).isFile();
    const target = quote(mount.target);
    if (isFile) lines.push(`mkdir -p "$(dirname ${target})"`, `[ -e ${target} ] || touch ${target}`);
    else lines.push(`mkdir -p ${target}`);
    lines.push(`mount --bind ${quote(mount.source)} ${target}`);
    if (mount.readOnly) lines.push(`mount -o remount,bind,ro ${target}`);
  }
  lines.push(`mount --bind ${quote(launch.hostsFile)} /etc/hosts`);
  // Last: a private /tmp hides the host's, where sources of the mounts above may live; unless a volume is the
  // container's /tmp already (an emptyDir at /tmp, as a read-only root filesystem needs).
  const tmpVolume = launch.mounts.some((mount) => mount.target.replace(/\/+$/, "") === "/tmp");
  if (!tmpVolume) lines.push(`mount --bind ${quote(launch.podTmpDir)} /tmp`);
  lines.push(`hostname ${quote(launch.hostname)}`);
  lines.push(`mkdir -p ${quote(launch.workingDir)}`, `cd ${quote(launch.workingDir)}`);
  // The container counts as started once its filesystem is in place, like a runtime's StartContainer.
  lines.push(`: > ${quote(join(launch.containerDir, "started"))}`);
  if (launch.security?.readOnlyRootFilesystem) {
    // Only this mount namespace's view changes (a bind remount sets the flag on this namespace's copy of the
    // mount, never on the filesystem): the container writes nowhere but its volumes (and /dev/shm).
    lines.push("mount -o remount,bind,ro /");
    if (!tmpVolume) lines.push("mount -o remount,bind,ro /tmp");
  }
  lines.push(`exec ${privilegePrefix(launch.security).map(quote).join(" ")} "$@"`, "");
  return lines.join("\n");
}

export function startContainer(
  launch: ContainerLaunch,
  files: RuntimeFiles,
  imageDataOwner?: number,
): ContainerProcess {
  mkdirSync(launch.containerDir, { recursive: true });
  if (launch.imageDataDir) {
    mkdirSync(launch.imageDataDir, { recursive: true });
    // The image's /data belongs to its redis user, who may then write there without a volume.
    if (imageDataOwner !== undefined) chownSync(launch.imageDataDir, imageDataOwner, imageDataOwner);
  }
  const script = join(launch.containerDir, "launch.sh");
  const marker = join(launch.containerDir, "started");
  rmSync(marker, { force: true });
  writeFileSync(script, launchScript(launch, files), { mode: 0o755 });
  const log = openSync(launch.logFile, "a");
  const child = spawn(
    "setpriv",
    [
      "--pdeathsig",
      "KILL",
      "--",
      "unshare",
      "--mount",
      "--uts",
      "--pid",
      "--fork",
      "--kill-child",
      "--mount-proc",
      "--propagation",
      "private",
      "--",
      "/bin/sh",
      script,
      ...launch.argv,
    ],
    {
      env: { ...launch.env, LD_PRELOAD: files.podnetLibrary },
      stdio: ["ignore", log, log],
      detached: true,
    },
  );
  closeSync(log);
  let hasExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      hasExited = true;
      resolve({ code, signal });
    });
    child.once("error", () => {
      hasExited = true;
      resolve({ code: 127, signal: null });
    });
  });
  const started = new Promise<boolean>((resolve) => {
    const poll = () => {
      if (existsSync(marker)) resolve(true);
      else if (hasExited) resolve(false);
      else setTimeout(poll, 10);
    };
    poll();
  });
  return { child, pid: child.pid ?? -1, exited, started };
}

/**
 * Signals a container like a container runtime: SIGTERM, SIGKILL … go to its PID 1 (when PID 1 dies the
 * kernel kills the rest of its PID namespace, and unshare reaps it before exiting, so no zombie is left);
 * SIGSTOP/SIGCONT go to every process of the container (pausing it, like `docker pause`).
 */
export function signalContainer(proc: ContainerProcess, signal: NodeJS.Signals): void {
  if (proc.pid <= 0) return;
  const init = signal === "SIGSTOP" || signal === "SIGCONT" ? undefined : containerInitPid(proc);
  try {
    process.kill(init ?? -proc.pid, signal);
  } catch {
    // already gone
  }
}

/** The host PID of the container's first process (PID 1 inside its namespace). */
export function containerInitPid(proc: ContainerProcess): number | undefined {
  try {
    const children = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, "utf8").trim().split(/\s+/);
    const pid = Number(children[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Starts a command inside the container's namespaces with piped stdio (`kubectl exec`). */
export function spawnInContainer(
  proc: ContainerProcess,
  argv: string[],
  env: Record<string, string>,
  files: RuntimeFiles,
  workingDir = "/",
  security?: ProcessSecurity,
): ChildProcess | undefined {
  const target = containerInitPid(proc);
  if (target === undefined) return undefined;
  return spawn(
    "setpriv",
    [
      "--pdeathsig",
      "KILL",
      "--",
      "nsenter",
      "-t",
      String(target),
      "-m",
      "-u",
      `--wd=${workingDir}`,
      "--",
      ...privilegePrefix(security),
      ...argv,
    ],
    {
      env: { ...env, LD_PRELOAD: files.podnetLibrary },
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
}

/** Runs a command inside the container's namespaces (exec probes, `exec`), with its environment. */
export function execInContainer(
  proc: ContainerProcess,
  argv: string[],
  env: Record<string, string>,
  files: RuntimeFiles,
  timeoutMs: number,
  workingDir = "/",
  security?: ProcessSecurity,
): Promise<{ code: number | null; output: string }> {
  const target = containerInitPid(proc);
  if (target === undefined) return Promise.resolve({ code: null, output: "container is not running" });
  return new Promise((resolve) => {
    // Like a runtime's exec: the same user, groups and privileges as the container's own processes.
    const command = [...privilegePrefix(security), ...argv];
    const child = spawn(
      "nsenter",
      ["-t", String(target), "-m", "-u", `--wd=${workingDir}`, "--", ...command],
      {
        env: { ...env, LD_PRELOAD: files.podnetLibrary },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), "SIGKILL");
      } catch {
        // gone
      }
      resolve({ code: null, output: `command timed out after ${timeoutMs}ms` });
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, output: error.message });
    });
  });
}
