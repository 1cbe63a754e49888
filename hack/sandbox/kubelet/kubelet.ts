/**
 * The kubelet stand-in: runs every pod of the sandbox as real processes (see runtime.ts) on the pod's own
 * loopback IP, and writes pod status the way a kubelet does — phase, podIP, conditions (PodScheduled,
 * Initialized, ContainersReady, Ready), containerStatuses with restartCount/state/lastState — driven by the
 * containers' lives and their startup, readiness and liveness probes (exec, tcpSocket, httpGet). Crashed
 * containers restart with backoff per restartPolicy; a deleted pod gets SIGTERM, then SIGKILL after its
 * grace period, and only then disappears from the API.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import type { Logger } from "pino";
import { isObject, type JsonObject, type KubeObject } from "../api/types.ts";
import { CLUSTER_DOMAIN } from "../network/services.ts";
import type { NodeBackend } from "./backend.ts";
import { effectiveArgv, imageEnv, imageKind, imageWorkingDir, type ImageKind } from "./image.ts";
import {
  execInContainer,
  spawnInContainer,
  signalContainer,
  startContainer,
  containerInitPid,
  type ContainerProcess,
  type Mount,
  type RuntimeFiles,
} from "./runtime.ts";
import {
  formatPod,
  imageDataOwner,
  processSecurity,
  type PodSecurityContextSpec,
  type ProcessSecurity,
  type SecurityContextSpec,
} from "./security.ts";
import { materializeVolumes, MissingObjectError, type ObjectLookup } from "./volumes.ts";

export interface KubeletOptions {
  nodeName: string;
  /** Directory for pods' files; PVC data lives under `<dir>/pvcs`. */
  dir: string;
  files: RuntimeFiles;
  /** Probe periods and initial delays are capped to this many seconds, to keep tests quick. */
  probePeriodCapSeconds?: number;
  /** Grace periods are capped to this many seconds. */
  gracePeriodCapSeconds?: number;
  /** First crash-loop backoff; doubles per restart up to 5 s (a real kubelet: 10 s up to 5 min). */
  restartBackoffMs?: number;
}

interface ContainerSpec {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: { name: string; value?: string; valueFrom?: JsonObject }[];
  envFrom?: {
    configMapRef?: { name: string; optional?: boolean };
    secretRef?: { name: string; optional?: boolean };
    prefix?: string;
  }[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: SecurityContextSpec;
}

interface Probe {
  exec?: { command?: string[] };
  tcpSocket?: { port: number | string; host?: string };
  httpGet?: { port: number | string; path?: string; host?: string; scheme?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

type ContainerState =
  | { running: { startedAt: string } }
  | { waiting: { reason: string; message?: string } }
  | {
      terminated: {
        exitCode: number;
        signal?: number;
        reason: string;
        startedAt?: string;
        finishedAt: string;
        containerID?: string;
      };
    };

interface ContainerRuntime {
  spec: ContainerSpec;
  kind: ImageKind;
  init: boolean;
  proc: ContainerProcess | undefined;
  env: Record<string, string>;
  /** Who its processes run as (the pod's and its own securityContext), known once the pod is started. */
  security: ProcessSecurity | undefined;
  restartCount: number;
  state: ContainerState;
  lastState: ContainerState | undefined;
  started: boolean;
  ready: boolean;
  containerId: string;
  timers: Set<NodeJS.Timeout>;
  /**
   * The last signal the kubelet sent to the container's PID 1. unshare (util-linux 2.38) exits 1 instead of
   * re-raising its child's fatal signal, so the exit status of a signalled container is taken from here.
   */
  sentSignal: NodeJS.Signals | undefined;
}

interface PodRuntime {
  uid: string;
  namespace: string;
  name: string;
  ip: string;
  dir: string;
  hostsFile: string;
  containers: Map<string, ContainerRuntime>;
  initContainers: ContainerRuntime[];
  initialized: boolean;
  terminating: boolean;
  startTime: string;
  conditionTimes: Map<string, { status: string; time: string }>;
  phase: "Pending" | "Running" | "Succeeded" | "Failed";
  retryTimer: NodeJS.Timeout | undefined;
  lastStatus: string;
  volumes: Map<string, string>;
  statusWrite: Promise<void>;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = {
  SIGKILL: 9,
  SIGTERM: 15,
  SIGINT: 2,
  SIGSEGV: 11,
  SIGABRT: 6,
};

export class Kubelet {
  private readonly pods = new Map<string, PodRuntime>();
  private stopListening: (() => void) | undefined;
  private stopped = false;
  private readonly probeCap: number;
  private readonly graceCap: number;
  private readonly backoffMs: number;

  constructor(
    private readonly backend: NodeBackend,
    private readonly options: KubeletOptions,
    private readonly logger: Logger,
  ) {
    this.probeCap = options.probePeriodCapSeconds ?? 1;
    this.graceCap = options.gracePeriodCapSeconds ?? 10;
    this.backoffMs = options.restartBackoffMs ?? 250;
  }

  start(): void {
    mkdirSync(join(this.options.dir, "pods"), { recursive: true });
    this.stopListening = this.backend.watch({
      podChanged: (pod) => this.podChanged(pod),
      podGone: (pod) => this.podGone(pod),
      objectsChanged: (namespace) => this.refreshVolumes(namespace),
    });
  }

  /** Kills every container (SIGKILL) and waits for the processes to be gone. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopListening?.();
    const all = [...this.pods.values()];
    for (const pod of all) {
      if (pod.retryTimer) clearTimeout(pod.retryTimer);
      for (const c of this.allContainers(pod)) this.clearTimers(c);
    }
    await Promise.all(
      all.flatMap((pod) => this.allContainers(pod).map((c) => this.killContainer(c, "SIGKILL"))),
    );
  }

  // ------------------------------------------------------------------ test and helper API

  private runtimeOf(namespace: string, name: string): PodRuntime | undefined {
    return [...this.pods.values()].find(
      (p) => p.namespace === namespace && p.name === name && !p.terminating,
    );
  }

  /** The address of a pod running here, or undefined. */
  podIp(namespace: string, name: string): string | undefined {
    return this.runtimeOf(namespace, name)?.ip;
  }

  /** Sends `signal` to a pod's container process tree (default: its first container). */
  signalPod(namespace: string, name: string, signal: NodeJS.Signals, container?: string): void {
    const pod = this.runtimeOf(namespace, name);
    if (!pod) throw new Error(`pod ${namespace}/${name} is not running in this sandbox`);
    const target = container ? pod.containers.get(container) : [...pod.containers.values()][0];
    if (!target?.proc)
      throw new Error(`container ${container ?? "(first)"} of ${namespace}/${name} has no process`);
    this.signal(target, signal);
  }

  /** Host PID of a pod container's main process (PID 1 in the container). */
  containerPid(namespace: string, name: string, container?: string): number | undefined {
    const pod = this.runtimeOf(namespace, name);
    const target = container ? pod?.containers.get(container) : [...(pod?.containers.values() ?? [])][0];
    return target?.proc ? containerInitPid(target.proc) : undefined;
  }

  /** Runs a command inside a pod's container, like `kubectl exec`. */
  /** Starts a command in a pod's container with piped stdio, or undefined when it is not running. */
  spawnExec(namespace: string, name: string, argv: string[], container?: string): ChildProcess | undefined {
    const pod = this.runtimeOf(namespace, name);
    const target = container ? pod?.containers.get(container) : [...(pod?.containers.values() ?? [])][0];
    if (!pod || !target?.proc || !("running" in target.state)) return undefined;
    return spawnInContainer(
      target.proc,
      argv,
      target.env,
      this.options.files,
      this.workingDir(target),
      target.security,
    );
  }

  async exec(
    namespace: string,
    name: string,
    argv: string[],
    container?: string,
    timeoutMs = 10_000,
  ): Promise<{ code: number | null; output: string }> {
    const pod = this.runtimeOf(namespace, name);
    const target = container ? pod?.containers.get(container) : [...(pod?.containers.values() ?? [])][0];
    if (!pod || !target?.proc)
      throw new Error(`pod ${namespace}/${name} has no running container ${container ?? ""}`);
    return execInContainer(
      target.proc,
      argv,
      target.env,
      this.options.files,
      timeoutMs,
      this.workingDir(target),
      target.security,
    );
  }

  logFile(namespace: string, name: string, container?: string): string | undefined {
    const pod = this.runtimeOf(namespace, name);
    if (!pod) return undefined;
    const target = container ?? [...pod.containers.keys()][0];
    return target ? join(pod.dir, "logs", `${target}.log`) : undefined;
  }

  private signal(container: ContainerRuntime, signal: NodeJS.Signals): void {
    if (!container.proc) return;
    if (signal !== "SIGSTOP" && signal !== "SIGCONT") container.sentSignal = signal;
    signalContainer(container.proc, signal);
  }

  // ------------------------------------------------------------------ pod lifecycle

  private allContainers(pod: PodRuntime): ContainerRuntime[] {
    return [...pod.initContainers, ...pod.containers.values()];
  }

  private podChanged(pod: KubeObject): void {
    if (this.stopped) return;
    const uid = pod.metadata.uid ?? "";
    const known = this.pods.get(uid);
    if (pod.metadata.deletionTimestamp) {
      if (known && !known.terminating) void this.terminate(known, pod);
      else if (!known) this.confirmDeletion(pod);
      return;
    }
    if (!known) this.admit(pod);
  }

  private podGone(pod: KubeObject): void {
    const runtime = this.pods.get(pod.metadata.uid ?? "");
    if (!runtime) return;
    // Force-deleted: no grace period left.
    runtime.terminating = true;
    void Promise.all(this.allContainers(runtime).map((c) => this.killContainer(c, "SIGKILL"))).then(() =>
      this.cleanup(runtime),
    );
  }

  private admit(pod: KubeObject): void {
    const uid = pod.metadata.uid ?? "";
    const ip = this.backend.allocatePodIp();
    const dir = join(
      this.options.dir,
      "pods",
      `${pod.metadata.namespace ?? ""}_${pod.metadata.name ?? ""}_${uid.slice(0, 8)}`,
    );
    mkdirSync(join(dir, "logs"), { recursive: true });
    mkdirSync(join(dir, "tmp"), { recursive: true });
    chmodSync(join(dir, "tmp"), 0o1777); // mkdir's mode goes through the umask

    const spec = (pod.spec ?? {}) as JsonObject;
    const toRuntime = (c: ContainerSpec, init: boolean): ContainerRuntime => ({
      spec: c,
      kind: imageKind(c.image ?? ""),
      init,
      proc: undefined,
      env: {},
      security: undefined,
      restartCount: 0,
      state: { waiting: { reason: "ContainerCreating" } },
      lastState: undefined,
      started: false,
      ready: false,
      containerId: "",
      timers: new Set(),
      sentSignal: undefined,
    });
    const runtime: PodRuntime = {
      uid,
      namespace: pod.metadata.namespace ?? "",
      name: pod.metadata.name ?? "",
      ip,
      dir,
      hostsFile: join(dir, "etc-hosts"),
      containers: new Map(
        ((spec.containers ?? []) as ContainerSpec[]).map((c) => [c.name, toRuntime(c, false)]),
      ),
      initContainers: ((spec.initContainers ?? []) as ContainerSpec[]).map((c) => toRuntime(c, true)),
      initialized: false,
      terminating: false,
      startTime: now(),
      conditionTimes: new Map(),
      phase: "Pending",
      retryTimer: undefined,
      lastStatus: "",
      volumes: new Map(),
      statusWrite: Promise.resolve(),
    };
    this.pods.set(uid, runtime);
    const hostname = typeof spec.hostname === "string" ? spec.hostname : runtime.name;
    const self =
      typeof spec.subdomain === "string"
        ? `${ip}\t${hostname}.${spec.subdomain}.${runtime.namespace}.svc.${CLUSTER_DOMAIN} ${hostname}`
        : `${ip}\t${hostname}`;
    this.backend.registerHostsFile(uid, runtime.hostsFile, runtime.namespace, [self]);
    this.startPodSafely(runtime);
  }

  private startPodSafely(runtime: PodRuntime): void {
    this.startPod(runtime).catch((error: unknown) => {
      this.logger.error(
        { err: error, pod: `${runtime.namespace}/${runtime.name}` },
        "cannot start pod; retrying",
      );
      this.retry(runtime, 1_000);
    });
  }

  private currentPod(runtime: PodRuntime): KubeObject | undefined {
    const pod = this.backend.getPod(runtime.namespace, runtime.name);
    return pod && pod.metadata.uid === runtime.uid ? pod : undefined;
  }

  private retry(runtime: PodRuntime, delayMs: number): void {
    if (runtime.retryTimer || this.stopped) return;
    runtime.retryTimer = setTimeout(() => {
      runtime.retryTimer = undefined;
      this.startPodSafely(runtime);
    }, delayMs);
  }

  private async startPod(runtime: PodRuntime): Promise<void> {
    let pod = this.currentPod(runtime);
    if (!pod || runtime.terminating || this.stopped) return;
    await this.backend.prepare(pod);
    pod = this.currentPod(runtime);
    if (!pod || runtime.terminating || this.stopped) return;
    try {
      runtime.volumes = materializeVolumes(pod, runtime.dir, join(this.options.dir, "pvcs"), this.lookup);
      for (const c of this.allContainers(runtime)) c.env = this.resolveEnv(pod, runtime, c.spec);
    } catch (error) {
      if (!(error instanceof MissingObjectError)) throw error;
      const reason = error.message.includes("key") ? "CreateContainerConfigError" : "ContainerCreating";
      for (const c of this.allContainers(runtime)) c.state = { waiting: { reason, message: error.message } };
      this.event(pod, "Warning", reason === "ContainerCreating" ? "FailedMount" : "Failed", error.message);
      this.writeStatus(runtime);
      this.retry(runtime, 500);
      return;
    }
    // runAsNonRoot and friends: a container that may not run stays Waiting with the kubelet's reason (its
    // securityContext is immutable, so retrying would not change the answer); the others start.
    const refused = this.applySecurity(pod, runtime);
    if (runtime.initContainers.some((c) => refused.has(c))) {
      this.writeStatus(runtime);
      return;
    }
    for (const init of runtime.initContainers) {
      if (runtime.initialized) break;
      if (init.state && "terminated" in init.state && init.state.terminated.exitCode === 0) continue;
      const code = await this.runToCompletion(runtime, init);
      if (runtime.terminating || this.stopped) return;
      if (code !== 0) {
        const policy = (pod.spec as JsonObject | undefined)?.restartPolicy;
        if (policy === "Never") {
          runtime.phase = "Failed";
          this.writeStatus(runtime);
          return;
        }
        init.restartCount++;
        this.retry(runtime, this.backoff(init));
        return;
      }
    }
    runtime.initialized = true;
    for (const c of runtime.containers.values()) if (!refused.has(c)) this.launch(runtime, c);
    this.writeStatus(runtime);
  }

  /** Works out each container's ProcessSecurity; returns those refused, each Waiting with its message. */
  private applySecurity(pod: KubeObject, runtime: PodRuntime): Set<ContainerRuntime> {
    const podContext = (pod.spec as JsonObject | undefined)?.securityContext as
      PodSecurityContextSpec | undefined;
    const refused = new Set<ContainerRuntime>();
    for (const c of this.allContainers(runtime)) {
      const security = processSecurity(podContext, c.spec.securityContext, c.kind, {
        pod: formatPod(runtime.name, runtime.namespace, runtime.uid),
        container: c.spec.name,
      });
      if ("error" in security) {
        refused.add(c);
        c.state = { waiting: { reason: "CreateContainerConfigError", message: security.error } };
        this.event(pod, "Warning", "Failed", `Error: ${security.error}`);
      } else {
        c.security = security;
      }
    }
    return refused;
  }

  private async runToCompletion(runtime: PodRuntime, container: ContainerRuntime): Promise<number> {
    this.launch(runtime, container);
    this.writeStatus(runtime);
    const result = await (container.proc?.exited ?? Promise.resolve({ code: 1, signal: null }));
    return result.code ?? 128 + (SIGNALS[result.signal ?? "SIGKILL"] ?? 9);
  }

  private workingDir(container: ContainerRuntime): string {
    return container.spec.workingDir ?? imageWorkingDir(container.kind);
  }

  private launch(runtime: PodRuntime, container: ContainerRuntime): void {
    const pod = this.currentPod(runtime);
    if (!pod || runtime.terminating || this.stopped) return;
    const spec = container.spec;
    const argv = effectiveArgv(container.kind, spec.command, spec.args).map((arg) =>
      expandVars(arg, container.env),
    );
    const mounts: Mount[] = [];
    for (const mount of spec.volumeMounts ?? []) {
      const source = runtime.volumes.get(mount.name);
      if (!source) continue;
      mounts.push({
        source: mount.subPath ? join(source, mount.subPath) : source,
        target: mount.mountPath,
        readOnly: mount.readOnly ?? false,
      });
    }
    const containerDir = join(runtime.dir, "containers", spec.name);
    const startedAt = now();
    container.containerId = `sandbox://${randomBytes(16).toString("hex")}`;
    const proc = startContainer(
      {
        argv,
        env: container.env,
        workingDir: this.workingDir(container),
        hostname:
          typeof (pod.spec as JsonObject | undefined)?.hostname === "string"
            ? String((pod.spec as JsonObject).hostname)
            : runtime.name,
        mounts,
        hostsFile: runtime.hostsFile,
        logFile: join(runtime.dir, "logs", `${spec.name}.log`),
        containerDir,
        imageDataDir:
          container.kind === "redis" || container.kind === "valkey"
            ? join(containerDir, "image-data")
            : undefined,
        imageAppDir: container.kind === "redis-dr" ? this.options.files.appDir : undefined,
        podTmpDir: join(runtime.dir, "tmp"),
        ...(container.security ? { security: container.security } : {}),
      },
      this.options.files,
      imageDataOwner(container.kind),
    );
    container.proc = proc;
    container.sentSignal = undefined;
    container.state = { waiting: { reason: "ContainerCreating" } };
    container.started = false;
    container.ready = false;
    void proc.started.then((ok) => {
      if (!ok || container.proc !== proc || runtime.terminating || this.stopped) return;
      container.state = { running: { startedAt } };
      container.started = !spec.startupProbe;
      this.logger.debug(
        { pod: `${runtime.namespace}/${runtime.name}`, container: spec.name },
        "container started",
      );
      if (!container.init) {
        this.event(pod, "Normal", "Started", `Started container ${spec.name}`);
        this.startProbes(runtime, container);
      }
      this.writeStatus(runtime);
    });
    void proc.exited.then(({ code, signal }) =>
      this.containerExited(runtime, container, proc, code, signal, startedAt),
    );
  }

  private containerExited(
    runtime: PodRuntime,
    container: ContainerRuntime,
    proc: ContainerProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
    startedAt: string,
  ): void {
    if (container.proc !== proc) return;
    container.proc = undefined;
    this.clearTimers(container);
    if (signal === null && code === 1 && container.sentSignal) signal = container.sentSignal;
    container.sentSignal = undefined;
    const exitCode = signal ? 128 + (SIGNALS[signal] ?? 9) : (code ?? 1);
    const terminated: ContainerState = {
      terminated: {
        exitCode,
        ...(signal ? { signal: SIGNALS[signal] ?? 0 } : {}),
        reason: exitCode === 0 ? "Completed" : "Error",
        startedAt,
        finishedAt: now(),
        containerID: container.containerId,
      },
    };
    container.ready = false;
    container.started = false;
    if (runtime.terminating || this.stopped || container.init) {
      container.state = terminated;
      this.writeStatus(runtime);
      return;
    }
    const pod = this.currentPod(runtime);
    const policy = (pod?.spec as JsonObject | undefined)?.restartPolicy ?? "Always";
    if (policy === "Never" || (policy === "OnFailure" && exitCode === 0)) {
      container.state = terminated;
      const all = [...runtime.containers.values()];
      if (all.every((c) => "terminated" in c.state)) {
        runtime.phase = all.every((c) => "terminated" in c.state && c.state.terminated.exitCode === 0)
          ? "Succeeded"
          : "Failed";
      }
      this.writeStatus(runtime);
      return;
    }
    container.lastState = terminated;
    container.restartCount++;
    const delay = this.backoff(container);
    container.state = {
      waiting: {
        reason: "CrashLoopBackOff",
        message: `back-off restarting failed container ${container.spec.name}`,
      },
    };
    if (pod)
      this.event(pod, "Warning", "BackOff", `Back-off restarting failed container ${container.spec.name}`);
    this.writeStatus(runtime);
    const timer = setTimeout(() => {
      container.timers.delete(timer);
      this.launch(runtime, container);
      this.writeStatus(runtime);
    }, delay);
    container.timers.add(timer);
  }

  private backoff(container: ContainerRuntime): number {
    return Math.min(this.backoffMs * 2 ** Math.max(0, container.restartCount - 1), 5_000);
  }

  private clearTimers(container: ContainerRuntime): void {
    for (const timer of container.timers) clearTimeout(timer);
    container.timers.clear();
  }

  private async killContainer(
    container: ContainerRuntime,
    signal: NodeJS.Signals,
    graceMs = 0,
  ): Promise<void> {
    const proc = container.proc;
    if (!proc) return;
    this.signal(container, signal);
    // A stopped (paused) process does not act on SIGTERM until continued.
    this.signal(container, "SIGCONT");
    if (signal !== "SIGKILL") {
      const timeout = new Promise<"timeout">((resolve) =>
        setTimeout(() => resolve("timeout"), graceMs).unref(),
      );
      if ((await Promise.race([proc.exited, timeout])) === "timeout") this.signal(container, "SIGKILL");
    }
    await proc.exited;
  }

  private async terminate(runtime: PodRuntime, pod: KubeObject): Promise<void> {
    runtime.terminating = true;
    if (runtime.retryTimer) clearTimeout(runtime.retryTimer);
    const grace = Math.min(Number(pod.metadata.deletionGracePeriodSeconds ?? 30), this.graceCap) * 1000;
    this.event(pod, "Normal", "Killing", `Stopping container ${[...runtime.containers.keys()].join(", ")}`);
    for (const c of this.allContainers(runtime)) this.clearTimers(c);
    await Promise.all(this.allContainers(runtime).map((c) => this.killContainer(c, "SIGTERM", grace)));
    await runtime.statusWrite;
    this.cleanup(runtime);
    this.confirmDeletion(pod);
  }

  private confirmDeletion(pod: KubeObject): void {
    this.backend.confirmDeletion(pod).catch((error: unknown) => {
      this.logger.error(
        { err: error, pod: `${pod.metadata.namespace}/${pod.metadata.name}` },
        "cannot delete pod",
      );
    });
  }

  /** What materializeVolumes reads: the referenced objects and the projected ServiceAccount tokens. */
  private readonly lookup: ObjectLookup = {
    object: (kind, namespace, name) => this.backend.getObject(kind, namespace, name),
    serviceAccountToken: (pod, audience) => this.backend.getServiceAccountToken(pod, audience),
  };

  private cleanup(runtime: PodRuntime): void {
    if (!this.pods.has(runtime.uid)) return;
    this.pods.delete(runtime.uid);
    this.backend.unregisterHostsFile(runtime.uid);
    this.backend.releasePodIp(runtime.ip);
    rmSync(runtime.dir, { recursive: true, force: true });
  }

  private refreshVolumes(namespace: string): void {
    for (const runtime of this.pods.values()) {
      if (runtime.namespace !== namespace || runtime.terminating || !runtime.initialized) continue;
      const pod = this.currentPod(runtime);
      if (!pod) continue;
      try {
        materializeVolumes(pod, runtime.dir, join(this.options.dir, "pvcs"), this.lookup);
      } catch {
        // A referenced object was deleted: running containers keep their files, like a real kubelet.
      }
    }
  }

  // ------------------------------------------------------------------ environment

  private resolveEnv(pod: KubeObject, runtime: PodRuntime, spec: ContainerSpec): Record<string, string> {
    const podSpec = (pod.spec ?? {}) as JsonObject;
    const env: Record<string, string> = {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOSTNAME: typeof podSpec.hostname === "string" ? podSpec.hostname : runtime.name,
      HOME: "/root",
      ...imageEnv(imageKind(spec.image ?? "")),
      KUBERNETES_SERVICE_HOST: this.backend.kubernetesService.host,
      KUBERNETES_SERVICE_PORT: String(this.backend.kubernetesService.port),
      SANDBOX_POD_IP: runtime.ip,
    };
    const lookup = (kind: "configmaps" | "secrets", name: string) =>
      this.backend.getObject(kind, runtime.namespace, name);
    const valueOf = (
      object: KubeObject | undefined,
      kind: "configmaps" | "secrets",
      key: string,
    ): string | undefined => {
      const data = isObject(object?.data) ? (object.data as Record<string, string>) : {};
      const raw = data[key];
      if (raw === undefined) return undefined;
      return kind === "secrets" ? Buffer.from(raw, "base64").toString("utf8") : raw;
    };
    for (const source of spec.envFrom ?? []) {
      const ref = source.configMapRef ?? source.secretRef;
      const kind = source.configMapRef ? "configmaps" : "secrets";
      if (!ref) continue;
      const object = lookup(kind, ref.name);
      if (!object) {
        if (ref.optional) continue;
        throw new MissingObjectError(
          `${kind === "configmaps" ? "configmap" : "secret"} "${ref.name}" not found`,
        );
      }
      for (const key of Object.keys(isObject(object.data) ? object.data : {}))
        env[`${source.prefix ?? ""}${key}`] = valueOf(object, kind, key) ?? "";
    }
    for (const variable of spec.env ?? []) {
      if (variable.value !== undefined) {
        env[variable.name] = expandVars(variable.value, env);
        continue;
      }
      const from = variable.valueFrom ?? {};
      if (isObject(from.secretKeyRef) || isObject(from.configMapKeyRef)) {
        const kind = isObject(from.secretKeyRef) ? "secrets" : "configmaps";
        const ref = (from.secretKeyRef ?? from.configMapKeyRef) as {
          name: string;
          key: string;
          optional?: boolean;
        };
        const value = valueOf(lookup(kind, ref.name), kind, ref.key);
        if (value === undefined) {
          if (ref.optional) continue;
          throw new MissingObjectError(
            `couldn't find key ${ref.key} in ${kind === "secrets" ? "Secret" : "ConfigMap"} ${runtime.namespace}/${ref.name}`,
          );
        }
        env[variable.name] = value;
      } else if (isObject(from.fieldRef)) {
        env[variable.name] = fieldRefValue(pod, runtime, String(from.fieldRef.fieldPath ?? ""));
      } else if (variable.valueFrom === undefined) {
        env[variable.name] = "";
      }
    }
    return env;
  }

  // ------------------------------------------------------------------ probes

  private startProbes(runtime: PodRuntime, container: ContainerRuntime): void {
    const { readinessProbe, livenessProbe, startupProbe } = container.spec;
    const cap = (seconds: number | undefined, fallback: number) =>
      Math.min(seconds ?? fallback, this.probeCap) * 1000;
    const loop = (
      probe: Probe,
      onResult: (ok: boolean, counters: { ok: number; failed: number }) => boolean,
    ) => {
      const counters = { ok: 0, failed: 0 };
      const period = Math.max(cap(probe.periodSeconds, 10), 100);
      const tick = async () => {
        if (!container.proc || runtime.terminating) return;
        const ok = await this.runProbe(runtime, container, probe);
        if (!container.proc || runtime.terminating) return;
        if (ok) {
          counters.ok++;
          counters.failed = 0;
        } else {
          counters.failed++;
          counters.ok = 0;
        }
        if (onResult(ok, counters)) schedule(period);
      };
      const schedule = (delay: number) => {
        const timer = setTimeout(() => {
          container.timers.delete(timer);
          void tick();
        }, delay);
        container.timers.add(timer);
      };
      schedule(cap(probe.initialDelaySeconds, 0));
    };
    const afterStartup = () => {
      container.started = true;
      if (readinessProbe) {
        loop(readinessProbe, (ok, c) => {
          const threshold = ok
            ? (readinessProbe.successThreshold ?? 1)
            : (readinessProbe.failureThreshold ?? 3);
          if ((ok ? c.ok : c.failed) >= threshold && container.ready !== ok) {
            container.ready = ok;
            if (!ok) this.probeEvent(runtime, container, "Readiness");
            this.writeStatus(runtime);
          }
          return true;
        });
      } else {
        container.ready = true;
        this.writeStatus(runtime);
      }
      if (livenessProbe) {
        loop(livenessProbe, (ok, c) => {
          if (!ok && c.failed >= (livenessProbe.failureThreshold ?? 3)) {
            this.probeEvent(runtime, container, "Liveness");
            this.signal(container, "SIGKILL");
            return false;
          }
          return true;
        });
      }
    };
    if (startupProbe) {
      loop(startupProbe, (ok, c) => {
        if (ok) {
          afterStartup();
          return false;
        }
        if (c.failed >= (startupProbe.failureThreshold ?? 3)) {
          this.probeEvent(runtime, container, "Startup");
          this.signal(container, "SIGKILL");
          return false;
        }
        return true;
      });
    } else {
      afterStartup();
    }
  }

  private probeEvent(runtime: PodRuntime, container: ContainerRuntime, kind: string): void {
    const pod = this.currentPod(runtime);
    if (pod)
      this.event(pod, "Warning", "Unhealthy", `${kind} probe failed for container ${container.spec.name}`);
  }

  private async runProbe(runtime: PodRuntime, container: ContainerRuntime, probe: Probe): Promise<boolean> {
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    const port = (p: number | string) =>
      typeof p === "number"
        ? p
        : ((container.spec.ports ?? []).find((cp) => cp.name === p)?.containerPort ?? Number(p));
    if (probe.exec?.command && container.proc) {
      const result = await execInContainer(
        container.proc,
        probe.exec.command,
        container.env,
        this.options.files,
        timeoutMs,
        this.workingDir(container),
        container.security,
      );
      return result.code === 0;
    }
    if (probe.tcpSocket) {
      const target = { host: probe.tcpSocket.host ?? runtime.ip, port: port(probe.tcpSocket.port) };
      return new Promise((resolve) => {
        const socket = net.connect(target);
        const done = (ok: boolean) => {
          socket.destroy();
          resolve(ok);
        };
        socket.setTimeout(timeoutMs, () => done(false));
        socket.once("connect", () => done(true));
        socket.once("error", () => done(false));
      });
    }
    if (probe.httpGet) {
      const url = `http://${probe.httpGet.host ?? runtime.ip}:${port(probe.httpGet.port)}${probe.httpGet.path ?? "/"}`;
      return new Promise((resolve) => {
        const request = http.get(url, { timeout: timeoutMs }, (res) => {
          res.resume();
          resolve((res.statusCode ?? 500) >= 200 && (res.statusCode ?? 500) < 400);
        });
        request.once("timeout", () => request.destroy());
        request.once("error", () => resolve(false));
      });
    }
    return true;
  }

  // ------------------------------------------------------------------ status

  private condition(runtime: PodRuntime, type: string, ok: boolean): JsonObject {
    const status = ok ? "True" : "False";
    const previous = runtime.conditionTimes.get(type);
    const time = previous && previous.status === status ? previous.time : now();
    runtime.conditionTimes.set(type, { status, time });
    return { type, status, lastProbeTime: null, lastTransitionTime: time };
  }

  private containerStatus(container: ContainerRuntime): JsonObject {
    return {
      name: container.spec.name,
      image: container.spec.image ?? "",
      imageID: `sandbox://${container.spec.image ?? ""}`,
      ...(container.containerId ? { containerID: container.containerId } : {}),
      ready: container.ready,
      started: container.started,
      restartCount: container.restartCount,
      state: container.state,
      lastState: container.lastState ?? {},
    };
  }

  private writeStatus(runtime: PodRuntime): void {
    const containers = [...runtime.containers.values()];
    // Like the kubelet's getPhase: Pending while a container waits for its first start; Running once each
    // has started (or has exited and is being restarted). Succeeded and Failed are set where containers exit.
    const firstStartPending = containers.some((c) => "waiting" in c.state && c.lastState === undefined);
    if (runtime.phase === "Pending" && runtime.initialized && !firstStartPending) runtime.phase = "Running";
    const ready = containers.length > 0 && containers.every((c) => c.ready) && runtime.phase === "Running";
    const status = {
      phase: runtime.phase,
      conditions: [
        this.condition(runtime, "PodReadyToStartContainers", true),
        this.condition(runtime, "Initialized", runtime.initialized),
        this.condition(runtime, "Ready", ready),
        this.condition(runtime, "ContainersReady", ready),
        this.condition(runtime, "PodScheduled", true),
      ],
      hostIP: this.backend.hostIp,
      hostIPs: [{ ip: this.backend.hostIp }],
      podIP: runtime.ip,
      podIPs: [{ ip: runtime.ip }],
      startTime: runtime.startTime,
      qosClass: "BestEffort",
      ...(runtime.initContainers.length > 0
        ? { initContainerStatuses: runtime.initContainers.map((c) => this.containerStatus(c)) }
        : {}),
      containerStatuses: containers.map((c) => this.containerStatus(c)),
    };
    const text = JSON.stringify(status);
    if (text === runtime.lastStatus) return;
    runtime.lastStatus = text;
    runtime.statusWrite = runtime.statusWrite.then(async () => {
      if (runtime.lastStatus !== text) return; // a newer status supersedes this one
      try {
        await this.backend.writePodStatus(runtime, status);
      } catch (error) {
        this.logger.error({ err: error }, "cannot write pod status");
      }
    });
  }

  private event(pod: KubeObject, type: "Normal" | "Warning", reason: string, message: string): void {
    const timestamp = now();
    void this.backend
      .recordEvent({
        metadata: {
          name: `${pod.metadata.name ?? ""}.${randomBytes(8).toString("hex")}`,
          namespace: pod.metadata.namespace,
        },
        involvedObject: {
          kind: "Pod",
          namespace: pod.metadata.namespace,
          name: pod.metadata.name,
          uid: pod.metadata.uid,
          apiVersion: "v1",
        },
        reason,
        message,
        type,
        source: { component: "kubelet", host: this.options.nodeName },
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        count: 1,
        reportingComponent: "kubelet",
        reportingInstance: this.options.nodeName,
      })
      .catch(() => undefined);
  }
}

/** Kubernetes' `$(VAR)` expansion in command, args and env values; `$$(VAR)` is a literal. */
export function expandVars(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match: string, name: string | undefined) => {
    if (match === "$$") return "$";
    return name !== undefined && Object.hasOwn(env, name) ? (env[name] ?? "") : match;
  });
}

function fieldRefValue(pod: KubeObject, runtime: PodRuntime, path: string): string {
  const spec = (pod.spec ?? {}) as JsonObject;
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === "labels" ? pod.metadata.labels : pod.metadata.annotations)?.[m[2] ?? ""] ?? "";
  switch (path) {
    case "metadata.name":
      return runtime.name;
    case "metadata.namespace":
      return runtime.namespace;
    case "metadata.uid":
      return runtime.uid;
    case "spec.nodeName":
      return String(spec.nodeName ?? "");
    case "spec.serviceAccountName":
      return String(spec.serviceAccountName ?? "default");
    case "status.podIP":
    case "status.podIPs":
      return runtime.ip;
    case "status.hostIP":
    case "status.hostIPs":
      return "127.0.0.1";
    default:
      return "";
  }
}
