/**
 * Services as kube-proxy and cluster DNS provide them, on loopback:
 *  - a ClusterIP from the sandbox range, with a TCP proxy on clusterIP:port to a ready endpoint (pods chosen
 *    by the selector, targetPort by number or container port name), round-robin;
 *  - a LoadBalancer Service also gets `status.loadBalancer.ingress[0].ip` with the same proxy there, which
 *    other sandboxes (regions) can reach;
 *  - DNS as hosts files: `<svc>.<ns>.svc.cluster.local`, `<svc>.<ns>.svc`, `<svc>.<ns>` and, inside the
 *    namespace, `<svc>`; headless Services resolve to the ready pods' IPs, and pods with a hostname and a
 *    subdomain get `<pod>.<svc>.<ns>.svc.cluster.local`.
 * Hosts files are rewritten in place (same inode), because pods see them through a bind mount.
 */
import { closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import net from "node:net";
import type { Logger } from "pino";
import type { ApiCore } from "../api/core.ts";
import { mapSelector } from "../api/selectors.ts";
import { ApiError, isObject, type JsonObject, type KubeObject } from "../api/types.ts";
import { isPodReady } from "../controllers/statefulset.ts";
import { IpPool } from "./addresses.ts";

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  nodePort?: number;
}

interface Listener {
  server: net.Server;
  sockets: Set<net.Socket>;
}

export const CLUSTER_DOMAIN = "cluster.local";

/** Files to keep in sync: a pod's hosts file (with its namespace) or an operator process's (all forms). */
interface HostsFile {
  path: string;
  namespace: string | undefined;
  self: string[];
}

export class ServiceNetwork {
  private readonly clusterIps: IpPool;
  private readonly lbIps: IpPool;
  private nextNodePort = 30000;
  private readonly listeners = new Map<string, Listener>();
  private readonly roundRobin = new Map<string, number>();
  private readonly hostsFiles = new Map<string, HostsFile>();
  private stopListening: (() => void) | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();
  /** Extra name → address lines for every hosts file (e.g. the webhook Service of the operator). */
  private readonly staticEntries = new Map<string, string>();

  constructor(
    private readonly core: ApiCore,
    range: number,
    private readonly logger: Logger,
  ) {
    this.clusterIps = new IpPool(range, 200, 249);
    this.lbIps = new IpPool(range, 250, 253);
    core.addHooks("", "services", {
      prepareCreate: (service) => this.allocate(service),
      abortCreate: (service) => this.release(service),
      prepareUpdate: (service, old) => this.reallocate(service, old),
      afterDelete: (service) => {
        this.release(service);
        // The endpoints controller removes a deleted Service's Endpoints.
        const endpoints = core.type("", "v1", "endpoints");
        core.forceDelete(endpoints, service.metadata.namespace, service.metadata.name ?? "");
      },
    });
  }

  start(): void {
    this.stopListening = this.core.store.onChange((change) => {
      if (["/services", "/pods"].includes(change.key)) this.scheduleSync();
    });
    this.scheduleSync();
  }

  async stop(): Promise<void> {
    this.stopListening?.();
    if (this.syncTimer) clearTimeout(this.syncTimer);
    await this.syncing.catch(() => undefined);
    await Promise.all([...this.listeners.keys()].map((key) => this.closeListener(key)));
  }

  /** Adds `name → ip` to every hosts file (for addresses the sandbox serves itself). */
  addStaticEntry(name: string, ip: string): void {
    this.staticEntries.set(name, ip);
    this.scheduleSync();
  }

  /** Keeps `path` up to date with the cluster's names. `namespace` adds the short names of that namespace. */
  registerHostsFile(key: string, path: string, namespace: string | undefined, self: string[] = []): void {
    this.hostsFiles.set(key, { path, namespace, self });
    this.writeHostsFile({ path, namespace, self });
  }

  unregisterHostsFile(key: string): void {
    this.hostsFiles.delete(key);
  }

  private allocate(service: KubeObject): void {
    const spec = (service.spec ?? {}) as JsonObject;
    spec.type ??= "ClusterIP";
    spec.sessionAffinity ??= "None";
    spec.ipFamilies ??= ["IPv4"];
    spec.ipFamilyPolicy ??= "SingleStack";
    spec.internalTrafficPolicy ??= "Cluster";
    const ports = Array.isArray(spec.ports) ? (spec.ports as ServicePort[]) : [];
    for (const port of ports) {
      port.protocol ??= "TCP";
      port.targetPort ??= port.port;
      if ((spec.type === "LoadBalancer" || spec.type === "NodePort") && port.nodePort === undefined) {
        port.nodePort = this.nextNodePort++;
      }
    }
    spec.ports = ports;
    if (spec.type === "ExternalName") {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    } else if (spec.clusterIP === "None") {
      spec.clusterIPs = ["None"];
    } else {
      const requested =
        typeof spec.clusterIP === "string" && spec.clusterIP !== "" ? spec.clusterIP : undefined;
      if (requested && !this.clusterIps.claim(requested)) {
        throw ApiError.of(
          422,
          "Invalid",
          `Service "${service.metadata.name ?? ""}" is invalid: spec.clusterIPs: Invalid value: ["${requested}"]: failed to allocate IP ${requested}: provided IP is already allocated or not in the sandbox range`,
        );
      }
      const ip = requested ?? this.clusterIps.allocate();
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
    }
    if (spec.type === "LoadBalancer") {
      service.status = { loadBalancer: { ingress: [{ ip: this.lbIps.allocate(), ipMode: "VIP" }] } };
    } else {
      service.status = { loadBalancer: {} };
    }
    service.spec = spec;
  }

  /** Keeps the ClusterIP, and gives or takes the LoadBalancer address when `spec.type` changes. */
  private reallocate(service: KubeObject, old: KubeObject): void {
    const spec = (service.spec ?? {}) as JsonObject;
    const oldSpec = (old.spec ?? {}) as JsonObject;
    if (spec.clusterIP === undefined && oldSpec.clusterIP !== undefined && spec.type !== "ExternalName") {
      spec.clusterIP = oldSpec.clusterIP;
      spec.clusterIPs = oldSpec.clusterIPs;
    }
    const ingress = lbIngressIp(old);
    if (spec.type === "LoadBalancer" && !ingress) {
      service.status = { loadBalancer: { ingress: [{ ip: this.lbIps.allocate(), ipMode: "VIP" }] } };
    } else if (spec.type !== "LoadBalancer" && ingress) {
      this.lbIps.release(ingress);
      service.status = { loadBalancer: {} };
    }
    service.spec = spec;
  }

  private release(service: KubeObject): void {
    const spec = (service.spec ?? {}) as JsonObject;
    if (typeof spec.clusterIP === "string" && spec.clusterIP !== "None")
      this.clusterIps.release(spec.clusterIP);
    const ingress = lbIngressIp(service);
    if (ingress) this.lbIps.release(ingress);
  }

  private scheduleSync(): void {
    if (this.syncTimer) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      this.syncing = this.syncing
        .then(() => this.sync())
        .catch((error: unknown) => {
          this.logger.error({ err: error }, "service network sync failed");
        });
    }, 20);
  }

  /** Syncs immediately (tests and the kubelet call this before relying on names). */
  async syncNow(): Promise<void> {
    await this.syncing;
    await this.sync();
  }

  private async sync(): Promise<void> {
    const services = this.core.store.list("/services");
    const wanted = new Map<string, { service: KubeObject; ip: string; port: ServicePort }>();
    for (const service of services) {
      const spec = (service.spec ?? {}) as JsonObject;
      const ips = [spec.clusterIP, lbIngressIp(service)].filter(
        (ip): ip is string => typeof ip === "string" && ip !== "None" && ip !== "",
      );
      for (const port of (Array.isArray(spec.ports) ? spec.ports : []) as ServicePort[]) {
        if ((port.protocol ?? "TCP") !== "TCP") continue;
        for (const ip of ips) wanted.set(`${ip}:${port.port}`, { service, ip, port });
      }
    }
    for (const key of [...this.listeners.keys()]) if (!wanted.has(key)) await this.closeListener(key);
    for (const [key, { service, ip, port }] of wanted) {
      if (!this.listeners.has(key))
        await this.openListener(
          key,
          ip,
          port.port,
          service.metadata.namespace ?? "",
          service.metadata.name ?? "",
          port,
        );
    }
    for (const file of this.hostsFiles.values()) this.writeHostsFile(file);
    await this.syncEndpoints(services);
  }

  /** The endpoints controller: one Endpoints object per Service with a selector, ready and not-ready pods. */
  private async syncEndpoints(services: KubeObject[]): Promise<void> {
    const type = this.core.type("", "v1", "endpoints");
    for (const service of services) {
      const spec = (service.spec ?? {}) as JsonObject;
      const selector = spec.selector;
      if (!isObject(selector) || Object.keys(selector).length === 0) continue;
      const namespace = service.metadata.namespace ?? "";
      const name = service.metadata.name ?? "";
      const matches = mapSelector(selector as Record<string, string>);
      const address = (pod: KubeObject) => ({
        ip: (pod.status as JsonObject).podIP,
        ...(typeof (pod.spec as JsonObject | undefined)?.hostname === "string"
          ? { hostname: (pod.spec as JsonObject).hostname }
          : {}),
        nodeName: (pod.spec as JsonObject | undefined)?.nodeName,
        targetRef: { kind: "Pod", namespace, name: pod.metadata.name, uid: pod.metadata.uid },
      });
      const pods = this.core.store
        .list("/pods", namespace)
        .filter(
          (p) =>
            matches(p.metadata.labels ?? {}) &&
            !p.metadata.deletionTimestamp &&
            typeof (p.status as JsonObject | undefined)?.podIP === "string",
        );
      const ready = pods.filter(isPodReady).map(address);
      const notReady = pods.filter((p) => !isPodReady(p)).map(address);
      const ports = ((spec.ports ?? []) as ServicePort[]).map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        port: typeof p.targetPort === "number" ? p.targetPort : p.port,
        protocol: p.protocol ?? "TCP",
      }));
      const subsets =
        ready.length + notReady.length === 0
          ? []
          : [
              {
                ...(ready.length ? { addresses: ready } : {}),
                ...(notReady.length ? { notReadyAddresses: notReady } : {}),
                ports,
              },
            ];
      const existing = this.core.tryGet(type, namespace, name);
      try {
        if (!existing) {
          await this.core.create(type, namespace, {
            metadata: { name, labels: service.metadata.labels ?? {} },
            subsets,
          });
        } else if (JSON.stringify(existing.subsets ?? []) !== JSON.stringify(subsets)) {
          await this.core.update(type, namespace, name, { ...existing, subsets });
        }
      } catch (error) {
        if (!(error instanceof ApiError && [404, 409].includes(error.code))) throw error;
      }
    }
  }

  private async openListener(
    key: string,
    ip: string,
    portNumber: number,
    namespace: string,
    name: string,
    port: ServicePort,
  ): Promise<void> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
      sockets.add(client);
      client.on("close", () => sockets.delete(client));
      const target = this.pickEndpoint(namespace, name, port);
      if (!target) {
        client.destroy();
        return;
      }
      // Like kube-proxy's DNAT, the pod sees the client's own address as the source.
      const upstream = net.connect({
        host: target.ip,
        port: target.port,
        ...(client.remoteAddress?.startsWith("127.") ? { localAddress: client.remoteAddress } : {}),
      });
      sockets.add(upstream);
      upstream.on("close", () => sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
      const closeBoth = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", closeBoth);
      upstream.on("error", closeBoth);
      client.on("close", closeBoth);
      upstream.on("close", closeBoth);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(portNumber, ip, () => resolve());
      });
      this.listeners.set(key, { server, sockets });
    } catch (error) {
      this.logger.error(
        { err: error, service: `${namespace}/${name}`, address: key },
        "cannot listen for service",
      );
    }
  }

  private async closeListener(key: string): Promise<void> {
    const listener = this.listeners.get(key);
    if (!listener) return;
    this.listeners.delete(key);
    for (const socket of listener.sockets) socket.destroy();
    await new Promise<void>((resolve) => listener.server.close(() => resolve()));
  }

  /** The ready pods behind a Service, with the port a connection to `port` should reach. */
  endpoints(
    namespace: string,
    name: string,
    port?: ServicePort,
  ): { ip: string; port: number; pod: string }[] {
    const service = this.core.store.get("/services", namespace, name);
    const selector = (service?.spec as JsonObject | undefined)?.selector;
    if (!service || !isObject(selector) || Object.keys(selector).length === 0) return [];
    const matches = mapSelector(selector as Record<string, string>);
    const pods = this.core.store
      .list("/pods", namespace)
      .filter((p) => matches(p.metadata.labels ?? {}) && isPodReady(p) && !p.metadata.deletionTimestamp);
    const out: { ip: string; port: number; pod: string }[] = [];
    for (const pod of pods) {
      const ip = (pod.status as JsonObject | undefined)?.podIP;
      if (typeof ip !== "string") continue;
      const target = port ? resolveTargetPort(pod, port) : 0;
      if (target !== undefined) out.push({ ip, port: target, pod: pod.metadata.name ?? "" });
    }
    return out;
  }

  private pickEndpoint(
    namespace: string,
    name: string,
    port: ServicePort,
  ): { ip: string; port: number } | undefined {
    const endpoints = this.endpoints(namespace, name, port);
    if (endpoints.length === 0) return undefined;
    const key = `${namespace}/${name}/${port.port}`;
    const index = (this.roundRobin.get(key) ?? 0) % endpoints.length;
    this.roundRobin.set(key, index + 1);
    return endpoints[index];
  }

  /** The address a name resolves to in the sandbox (for tests and host-side callers), or undefined. */
  resolve(name: string, namespace?: string): string | undefined {
    for (const [ip, names] of this.hostEntries(namespace)) if (names.includes(name)) return ip;
    return undefined;
  }

  /** ip → names, for one namespace's short names (or none). */
  private hostEntries(namespace: string | undefined): HostEntry[] {
    const entries: HostEntry[] = [];
    for (const [name, ip] of this.staticEntries) entries.push([ip, [name]]);
    const services = this.core.store.list("/services");
    const externalNames: HostEntry[] = [];
    for (const service of services) {
      const ns = service.metadata.namespace ?? "";
      const names = serviceHostNames(service.metadata.name ?? "", ns, namespace);
      const spec = (service.spec ?? {}) as JsonObject;
      if (spec.clusterIP === "None") {
        for (const endpoint of this.endpoints(ns, service.metadata.name ?? ""))
          entries.push([endpoint.ip, names]);
      } else if (typeof spec.clusterIP === "string") {
        entries.push([spec.clusterIP, names]);
      }
      if (spec.type === "ExternalName" && typeof spec.externalName === "string") {
        externalNames.push([spec.externalName, names]);
      }
    }
    const withExternal = withExternalNames(entries, externalNames);
    for (const pod of this.core.store.list("/pods")) {
      const spec = (pod.spec ?? {}) as JsonObject;
      const ip = (pod.status as JsonObject | undefined)?.podIP;
      if (typeof ip !== "string" || typeof spec.subdomain !== "string" || pod.metadata.deletionTimestamp)
        continue;
      const hostname = typeof spec.hostname === "string" ? spec.hostname : (pod.metadata.name ?? "");
      withExternal.push([
        ip,
        podHostNames(hostname, spec.subdomain, pod.metadata.namespace ?? "", namespace),
      ]);
    }
    return withExternal;
  }

  private writeHostsFile(file: HostsFile): void {
    writeHostsFileInPlace(
      file.path,
      renderHostsFile(
        "Kubernetes-managed hosts file (sandbox).",
        file.self,
        this.hostEntries(file.namespace),
      ),
    );
  }
}

/** One hosts-file line: an address and its names. */
export type HostEntry = [ip: string, names: string[]];

/**
 * The names of Service `name` in `ns` as cluster DNS answers them to a pod of `fromNamespace` (its search
 * path makes the bare name work only inside the Service's namespace).
 */
export function serviceHostNames(name: string, ns: string, fromNamespace: string | undefined): string[] {
  const names = [`${name}.${ns}.svc.${CLUSTER_DOMAIN}`, `${name}.${ns}.svc`, `${name}.${ns}`];
  if (ns === fromNamespace) names.push(name);
  return names;
}

/** The names of a pod with a hostname in a headless Service's subdomain, as seen from `fromNamespace`. */
export function podHostNames(
  hostname: string,
  subdomain: string,
  ns: string,
  fromNamespace: string | undefined,
): string[] {
  const names = [
    `${hostname}.${subdomain}.${ns}.svc.${CLUSTER_DOMAIN}`,
    `${hostname}.${subdomain}.${ns}.svc`,
  ];
  if (ns === fromNamespace) names.push(`${hostname}.${subdomain}`);
  return names;
}

/**
 * `entries` followed by the ExternalName Services' names (target → names). ExternalName is a CNAME in real
 * DNS; a hosts file cannot alias, so each target is resolved here: an IP address, or a name already in the
 * entries (an extra host name, another Service's name, or an earlier ExternalName).
 */
export function withExternalNames(entries: HostEntry[], externalNames: HostEntry[]): HostEntry[] {
  const out = [...entries];
  for (const [target, names] of externalNames) {
    const ip = /^\d+\.\d+\.\d+\.\d+$/.test(target) ? target : out.find(([, n]) => n.includes(target))?.[0];
    if (ip) out.push([ip, names]);
  }
  return out;
}

/** A hosts file: a comment, localhost, the pod's own lines, then one line per entry. */
export function renderHostsFile(header: string, self: string[], entries: HostEntry[]): string {
  return [
    `# ${header}`,
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    ...self,
    ...entries.map(([ip, names]) => `${ip}\t${names.join(" ")}`),
    "",
  ].join("\n");
}

/**
 * Writes a hosts file's new content unless it already holds it. Rewritten in place (same inode: the file is
 * bind-mounted over /etc/hosts in running pods) with one write at offset 0 and never truncated — padded with
 * a comment instead — so a pod that reads it at that moment sees the old or the new entries, never an empty
 * or half-written file.
 */
export function writeHostsFileInPlace(path: string, lines: string): void {
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {
    // not written yet
  }
  if (current.replace(/\n#[ ]*\n$/, "\n") === lines) return;
  let content = Buffer.from(lines);
  const previousLength = Buffer.byteLength(current);
  if (content.length < previousLength) {
    const padding = Math.max(previousLength - content.length - 2, 0);
    content = Buffer.from(`${lines}#${" ".repeat(padding)}\n`);
  }
  const fd = openSync(path, existsSync(path) ? "r+" : "w");
  try {
    writeSync(fd, content, 0, content.length, 0);
  } finally {
    closeSync(fd);
  }
}

export const lbIngressIp = (service: KubeObject): string | undefined => {
  const ingress = (service.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)
    ?.loadBalancer?.ingress;
  return ingress?.[0]?.ip;
};

function resolveTargetPort(pod: KubeObject, port: ServicePort): number | undefined {
  const target = port.targetPort ?? port.port;
  if (typeof target === "number") return target;
  if (/^\d+$/.test(target)) return Number(target);
  const containers = ((pod.spec as JsonObject | undefined)?.containers ?? []) as JsonObject[];
  for (const container of containers) {
    for (const p of (container.ports ?? []) as JsonObject[]) {
      if (p.name === target && typeof p.containerPort === "number") return p.containerPort;
    }
  }
  return undefined;
}
