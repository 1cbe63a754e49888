/**
 * The node agent: the sandbox's kubelet (hack/sandbox/kubelet) as a client of a real kube-apiserver, with
 * the node's own credentials (`system:node:<name>` in `system:nodes`, so the Node authorizer and
 * NodeRestriction confine it as they confine a kubelet). It
 *  - registers its Node before any pod can be bound to it (the pod garbage collector deletes pods bound to
 *    a missing Node), reports it Ready with its address, capacity and `declaredFeatures`, and renews its
 *    Lease in kube-node-lease;
 *  - runs the pods the scheduler binds to it as processes on their own pod addresses, fetching the Secrets,
 *    ConfigMaps and PVCs they reference and their projected ServiceAccount tokens (TokenRequest API), and
 *    refreshing them while the pods run;
 *  - serves `kubectl logs` (GET /containerLogs/…) and `kubectl exec` (a WebSocket upgrade on /exec/…, which
 *    the API server sends straight to a node declaring `ExtendWebSocketsToKubelet`) on port 10250, to the API
 *    server's kubelet client certificate only.
 */
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { serveExec } from "../sandbox/api/exec.ts";
import { isObject, type JsonObject, type KubeObject } from "../sandbox/api/types.ts";
import type { NodeBackend, PodEvents, ReferencedKind } from "../sandbox/kubelet/backend.ts";
import { Kubelet } from "../sandbox/kubelet/kubelet.ts";
import type { RuntimeFiles } from "../sandbox/kubelet/runtime.ts";
import { IpPool } from "../sandbox/network/addresses.ts";
import type { ControlPlane } from "./control-plane.ts";
import { ApiRequestError, JsonClient, JsonInformer } from "./json-client.ts";

export const KUBELET_PORT = 10250;
const K8S_VERSION = "v1.37.2";
const LEASE_SECONDS = 40;
/** How often referenced Secrets/ConfigMaps are read again while pods run (a kubelet's cache TTL is ~1 min). */
const REFRESH_MS = 2_000;

/** Where a pod's hosts file gets its cluster DNS from (the Service network). */
export interface HostsFiles {
  registerHostsFile(key: string, path: string, namespace: string, self: string[]): void;
  unregisterHostsFile(key: string): void;
}

export interface NodeAgentOptions {
  plane: ControlPlane;
  nodeName: string;
  /** The node's index in its cluster: its address and its share of the pod addresses (control-plane.ts). */
  index: number;
  /** Extra Node labels, e.g. topology.kubernetes.io/region. */
  labels?: Record<string, string>;
  /** Directory for pods' files; PVC data lives under `<dir>/pvcs`. */
  dir: string;
  files: RuntimeFiles;
  hostsFiles: HostsFiles;
  probePeriodCapSeconds?: number;
  logger: Logger;
}

/** MicroTime as the API server parses it: six fractional digits. */
const microTime = (date = new Date()) => date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

const path = {
  pod: (ns: string, name: string) => `/api/v1/namespaces/${ns}/pods/${name}`,
  object: (kind: ReferencedKind, ns: string, name: string) => `/api/v1/namespaces/${ns}/${kind}/${name}`,
};

/** The Secrets, ConfigMaps and PVCs a pod references, as `kind/name`. */
function referencesOf(pod: KubeObject): { kind: ReferencedKind; name: string }[] {
  const spec = (pod.spec ?? {}) as JsonObject;
  const refs: { kind: ReferencedKind; name: string }[] = [];
  const add = (kind: ReferencedKind, name: unknown) => {
    if (typeof name === "string" && !refs.some((r) => r.kind === kind && r.name === name))
      refs.push({ kind, name });
  };
  for (const volume of (spec.volumes ?? []) as JsonObject[]) {
    if (isObject(volume.secret)) add("secrets", volume.secret.secretName);
    if (isObject(volume.configMap)) add("configmaps", volume.configMap.name);
    if (isObject(volume.persistentVolumeClaim))
      add("persistentvolumeclaims", volume.persistentVolumeClaim.claimName);
    const projected = isObject(volume.projected) ? volume.projected : {};
    for (const source of (projected.sources ?? []) as JsonObject[]) {
      if (isObject(source.secret)) add("secrets", source.secret.name);
      if (isObject(source.configMap)) add("configmaps", source.configMap.name);
    }
  }
  const containers = [
    ...((spec.initContainers ?? []) as JsonObject[]),
    ...((spec.containers ?? []) as JsonObject[]),
  ];
  for (const container of containers) {
    for (const from of (container.envFrom ?? []) as JsonObject[]) {
      if (isObject(from.secretRef)) add("secrets", from.secretRef.name);
      if (isObject(from.configMapRef)) add("configmaps", from.configMapRef.name);
    }
    for (const variable of (container.env ?? []) as JsonObject[]) {
      const valueFrom = isObject(variable.valueFrom) ? variable.valueFrom : {};
      if (isObject(valueFrom.secretKeyRef)) add("secrets", valueFrom.secretKeyRef.name);
      if (isObject(valueFrom.configMapKeyRef)) add("configmaps", valueFrom.configMapKeyRef.name);
    }
  }
  return refs;
}

/** The projected ServiceAccount token sources of a pod. */
function tokenSourcesOf(pod: KubeObject): { audience: string | undefined; expirationSeconds: number }[] {
  const spec = (pod.spec ?? {}) as JsonObject;
  const sources: { audience: string | undefined; expirationSeconds: number }[] = [];
  for (const volume of (spec.volumes ?? []) as JsonObject[]) {
    const projected = isObject(volume.projected) ? volume.projected : {};
    for (const source of (projected.sources ?? []) as JsonObject[]) {
      if (!isObject(source.serviceAccountToken)) continue;
      const token = source.serviceAccountToken;
      sources.push({
        audience: typeof token.audience === "string" ? token.audience : undefined,
        expirationSeconds: typeof token.expirationSeconds === "number" ? token.expirationSeconds : 3607,
      });
    }
  }
  return sources;
}

interface IssuedToken {
  token: string;
  refreshAt: number;
}

/** The kubelet's view of a real API server, through the node's own credentials. */
export class RealNodeBackend implements NodeBackend {
  readonly hostIp: string;
  readonly kubernetesService: { host: string; port: number };
  private readonly pods: JsonInformer;
  private readonly objects = new Map<string, KubeObject | null>();
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly podIps: IpPool;
  private events: PodEvents | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing = false;

  constructor(
    private readonly client: JsonClient,
    private readonly options: NodeAgentOptions,
    private readonly logger: Logger,
  ) {
    const { addresses } = options.plane;
    this.hostIp = addresses.node(options.index);
    this.kubernetesService = { host: addresses.kubernetesServiceIp, port: 443 };
    const octets = addresses.podOctets(options.index);
    this.podIps = new IpPool(options.plane.range, octets.first, octets.last, 10);
    const selector = encodeURIComponent(`spec.nodeName=${options.nodeName}`);
    this.pods = new JsonInformer(
      client,
      `/api/v1/pods?fieldSelector=${selector}`,
      {
        upsert: (pod) => this.events?.podChanged(pod),
        remove: (pod) => this.events?.podGone(pod),
      },
      logger,
    );
  }

  watch(events: PodEvents): () => void {
    this.events = events;
    this.pods
      .start()
      .catch((error: unknown) => this.logger.error({ err: error }, "cannot list the node's pods"));
    this.refreshTimer = setInterval(() => void this.refresh(), REFRESH_MS);
    return () => {
      this.events = undefined;
      this.pods.stop();
      if (this.refreshTimer) clearInterval(this.refreshTimer);
    };
  }

  getPod(namespace: string, name: string): KubeObject | undefined {
    return this.pods.get(namespace, name);
  }

  getObject(kind: ReferencedKind, namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(`${kind}/${namespace}/${name}`) ?? undefined;
  }

  getServiceAccountToken(pod: KubeObject, audience: string | undefined): string | undefined {
    return this.tokens.get(`${pod.metadata.uid ?? ""}/${audience ?? ""}`)?.token;
  }

  async prepare(pod: KubeObject): Promise<void> {
    const namespace = pod.metadata.namespace ?? "";
    await Promise.all(referencesOf(pod).map(({ kind, name }) => this.fetchObject(kind, namespace, name)));
    await Promise.all(
      tokenSourcesOf(pod).map(({ audience, expirationSeconds }) =>
        this.issueToken(pod, audience, expirationSeconds),
      ),
    );
  }

  async writePodStatus(
    pod: { namespace: string; name: string; uid: string },
    status: object,
  ): Promise<boolean> {
    // The API server sets qosClass from the pod's resources when the pod is created, and refuses a change.
    const { qosClass: _qosClass, ...rest } = status as { qosClass?: unknown };
    try {
      await this.client.patch(`${path.pod(pod.namespace, pod.name)}/status`, {
        metadata: { uid: pod.uid },
        status: rest,
      });
      return true;
    } catch (error) {
      if (error instanceof ApiRequestError && (error.code === 404 || error.code === 409)) return false;
      throw error;
    }
  }

  async confirmDeletion(pod: KubeObject): Promise<void> {
    try {
      await this.client.delete(path.pod(pod.metadata.namespace ?? "", pod.metadata.name ?? ""), {
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid },
      });
    } catch (error) {
      if (!(error instanceof ApiRequestError && (error.code === 404 || error.code === 409))) throw error;
    }
  }

  async recordEvent(event: KubeObject): Promise<void> {
    await this.client.create(`/api/v1/namespaces/${event.metadata.namespace ?? "default"}/events`, event);
  }

  allocatePodIp(): string {
    return this.podIps.allocate();
  }

  releasePodIp(ip: string): void {
    this.podIps.release(ip);
  }

  registerHostsFile(key: string, file: string, namespace: string, self: string[]): void {
    this.options.hostsFiles.registerHostsFile(key, file, namespace, self);
  }

  unregisterHostsFile(key: string): void {
    this.options.hostsFiles.unregisterHostsFile(key);
  }

  private async fetchObject(kind: ReferencedKind, namespace: string, name: string): Promise<boolean> {
    const key = `${kind}/${namespace}/${name}`;
    const object = (await this.client.find(path.object(kind, namespace, name))) ?? null;
    const before = this.objects.get(key);
    this.objects.set(key, object);
    return (before?.metadata.resourceVersion ?? null) !== (object?.metadata.resourceVersion ?? null);
  }

  private async issueToken(
    pod: KubeObject,
    audience: string | undefined,
    expirationSeconds: number,
  ): Promise<void> {
    const key = `${pod.metadata.uid ?? ""}/${audience ?? ""}`;
    const issued = this.tokens.get(key);
    if (issued && issued.refreshAt > Date.now()) return;
    const serviceAccount = String((pod.spec as JsonObject | undefined)?.serviceAccountName ?? "default");
    const namespace = pod.metadata.namespace ?? "";
    const response = await this.client.create(
      `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
      {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: {
          ...(audience ? { audiences: [audience] } : {}),
          expirationSeconds,
          boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.metadata.name, uid: pod.metadata.uid },
        },
      },
    );
    const token = String((response.status as JsonObject | undefined)?.token ?? "");
    // A kubelet refreshes at 80 % of the token's life.
    this.tokens.set(key, { token, refreshAt: Date.now() + expirationSeconds * 800 });
  }

  /** Reads the running pods' references again; tells the kubelet which namespaces changed. */
  private async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      const changed = new Set<string>();
      const live = new Set<string>();
      for (const pod of this.pods.list()) {
        const namespace = pod.metadata.namespace ?? "";
        live.add(pod.metadata.uid ?? "");
        for (const { kind, name } of referencesOf(pod)) {
          if (kind === "persistentvolumeclaims") continue;
          if (await this.fetchObject(kind, namespace, name).catch(() => false)) changed.add(namespace);
        }
        for (const { audience, expirationSeconds } of tokenSourcesOf(pod)) {
          const before = this.getServiceAccountToken(pod, audience);
          await this.issueToken(pod, audience, expirationSeconds).catch((error: unknown) =>
            this.logger.warn({ err: error }, "cannot refresh a ServiceAccount token"),
          );
          if (this.getServiceAccountToken(pod, audience) !== before) changed.add(namespace);
        }
      }
      for (const key of this.tokens.keys()) if (!live.has(key.split("/")[0] ?? "")) this.tokens.delete(key);
      for (const namespace of changed) this.events?.objectsChanged(namespace);
    } finally {
      this.refreshing = false;
    }
  }
}

export class NodeAgent {
  readonly kubelet: Kubelet;
  private readonly client: JsonClient;
  private server: https.Server | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly logger: Logger;

  constructor(private readonly options: NodeAgentOptions) {
    this.logger = options.logger;
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(
      options.plane.userKubeconfig(`system:node:${options.nodeName}`, ["system:nodes"]),
    );
    this.client = new JsonClient(kubeConfig);
    this.kubelet = new Kubelet(
      new RealNodeBackend(this.client, options, this.logger.child({ component: "node-backend" })),
      {
        nodeName: options.nodeName,
        dir: options.dir,
        files: options.files,
        probePeriodCapSeconds: options.probePeriodCapSeconds ?? 1,
      },
      this.logger.child({ component: "kubelet" }),
    );
  }

  get nodeName(): string {
    return this.options.nodeName;
  }

  /** Serves the kubelet port, registers the Node and its Lease, then runs the node's pods. */
  async start(): Promise<void> {
    await this.serve();
    await this.register();
    await this.renew();
    this.heartbeat = setInterval(() => {
      this.renew().catch((error: unknown) => this.logger.warn({ err: error }, "node heartbeat failed"));
    }, 10_000);
    this.kubelet.start();
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.kubelet.stop();
    const server = this.server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private async register(): Promise<void> {
    const { nodeName } = this.options;
    const node = {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: nodeName,
        labels: {
          "kubernetes.io/hostname": nodeName,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": "amd64",
          "beta.kubernetes.io/os": "linux",
          "beta.kubernetes.io/arch": "amd64",
          ...this.options.labels,
        },
      },
    };
    try {
      await this.client.create("/api/v1/nodes", node);
    } catch (error) {
      if (!(error instanceof ApiRequestError && error.code === 409)) throw error;
    }
  }

  /** Node status (Ready, address, capacity, declared features) and the node's Lease. */
  private async renew(): Promise<void> {
    const { nodeName, plane } = this.options;
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: this.startedAt,
    });
    const resources = { cpu: "64", memory: "256Gi", pods: "250", "ephemeral-storage": "100Gi" };
    await this.client.patch(`/api/v1/nodes/${nodeName}/status`, {
      status: {
        conditions: [
          condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "node agent has sufficient memory",
          ),
          condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "node agent has no disk pressure"),
          condition(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "node agent has sufficient PID available",
          ),
          condition("Ready", "True", "KubeletReady", "redis-dr node agent is posting ready status"),
        ],
        addresses: [
          { type: "InternalIP", address: plane.addresses.node(this.options.index) },
          { type: "Hostname", address: nodeName },
        ],
        capacity: resources,
        allocatable: resources,
        daemonEndpoints: { kubeletEndpoint: { Port: KUBELET_PORT } },
        nodeInfo: {
          machineID: nodeName,
          systemUUID: nodeName,
          bootID: this.bootId,
          kernelVersion: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
          osImage: "redis-dr node agent",
          containerRuntimeVersion: "redis-dr-node-agent://0.1.0",
          kubeletVersion: K8S_VERSION,
          kubeProxyVersion: "",
          operatingSystem: "linux",
          architecture: "amd64",
        },
        // kubectl exec then reaches this agent as a WebSocket (v5.channel.k8s.io) instead of SPDY.
        declaredFeatures: ["ExtendWebSocketsToKubelet"],
      },
    });
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodeName}`;
    const lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: nodeName, namespace: "kube-node-lease" },
      spec: { holderIdentity: nodeName, leaseDurationSeconds: LEASE_SECONDS, renewTime: microTime() },
    };
    if ((await this.client.find(leasePath)) === undefined) {
      await this.client.create("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease);
    } else {
      await this.client.patch(leasePath, { spec: lease.spec });
    }
  }

  private readonly startedAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  private readonly bootId = `${Date.now().toString(16)}`;

  /** The kubelet port: only the API server's kubelet client certificate is served. */
  private async serve(): Promise<void> {
    const { plane, nodeName } = this.options;
    const address = plane.addresses.node(this.options.index);
    const credentials = plane.issueNodeServingCertificate(nodeName, address);
    const server = https.createServer(
      {
        cert: readFileSync(credentials.cert),
        key: readFileSync(credentials.key),
        ca: readFileSync(plane.kubeletClientCaPath),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => this.handle(req, res),
    );
    server.on("upgrade", (req: IncomingMessage, socket: Duplex) => this.upgrade(req, socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(KUBELET_PORT, address, () => resolve());
    });
  }

  private authorized(req: IncomingMessage): boolean {
    const peer = (req.socket as TLSSocket).getPeerCertificate?.();
    return peer?.subject?.CN === "kube-apiserver-kubelet-client";
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (!this.authorized(req)) {
      res.writeHead(403).end("Forbidden");
      return;
    }
    const url = new URL(req.url ?? "/", "https://node");
    if (url.pathname === "/healthz") {
      res.writeHead(200).end("ok");
      return;
    }
    const logs = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (req.method === "GET" && logs) {
      this.serveLogs(
        res,
        decodeURIComponent(logs[1] ?? ""),
        decodeURIComponent(logs[2] ?? ""),
        decodeURIComponent(logs[3] ?? ""),
        url.searchParams,
      );
      return;
    }
    res.writeHead(404).end("Not Found");
  }

  private serveLogs(
    res: ServerResponse,
    namespace: string,
    pod: string,
    container: string,
    query: URLSearchParams,
  ): void {
    const file = this.kubelet.logFile(namespace, pod, container);
    if (!file || !existsSync(file)) {
      res
        .writeHead(404, { "Content-Type": "text/plain" })
        .end(`container "${container}" in pod "${pod}" is not available`);
      return;
    }
    res.writeHead(200, { "Content-Type": "text/plain" });
    const tailLines = Number(query.get("tailLines") ?? "");
    let text = readFileSync(file, "utf8");
    if (Number.isInteger(tailLines) && tailLines >= 0 && query.has("tailLines")) {
      const lines = text.split("\n");
      if (lines.at(-1) === "") lines.pop();
      text = lines
        .slice(Math.max(0, lines.length - tailLines))
        .map((line) => `${line}\n`)
        .join("");
    }
    if (query.get("follow") !== "true") {
      res.end(text);
      return;
    }
    res.write(text);
    // Follow: stream what the container appends until the client goes away.
    let offset = statSync(file).size;
    const timer = setInterval(() => {
      const size = existsSync(file) ? statSync(file).size : offset;
      if (size <= offset) return;
      createReadStream(file, { start: offset, end: size - 1 }).pipe(res, { end: false });
      offset = size;
    }, 250);
    res.on("close", () => clearInterval(timer));
  }

  private upgrade(req: IncomingMessage, socket: Duplex): void {
    const url = new URL(req.url ?? "/", "https://node");
    const exec = /^\/exec\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (!this.authorized(req) || !exec) {
      socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
      return;
    }
    serveExec(
      req,
      socket,
      {
        namespace: decodeURIComponent(exec[1] ?? ""),
        name: decodeURIComponent(exec[2] ?? ""),
        container: decodeURIComponent(exec[3] ?? ""),
      },
      (namespace, name, container, argv) => this.kubelet.spawnExec(namespace, name, argv, container),
    );
  }
}
