/**
 * Services for one real cluster (hack/k8s/control-plane.ts), as kube-proxy, a LoadBalancer implementation
 * and cluster DNS provide them, driven by informers on Services and EndpointSlices:
 *  - ClusterIP (and LoadBalancer ingress) `ip:port/tcp` is DNATed by nftables to one ready endpoint of the
 *    Service's EndpointSlices, picked at random; a Service without a ready endpoint is refused with a TCP reset
 *    (kube-proxy rejects too), so a client fails at once instead of hanging.
 *  - A LoadBalancer Service gets an ingress address from 10.R.160.1 upward, written to
 *    `status.loadBalancer.ingress[0].ip`; it is freed when the Service goes. Every cluster shares one network
 *    namespace where all of 10.0.0.0/8 is local, so other clusters ("regions") reach it as well.
 *  - DNS as hosts files (pods have no resolver: their /etc/hosts is such a file), with the names and forms of
 *    the sandbox (hack/sandbox/network/services.ts); headless Services resolve to their ready endpoints, and
 *    endpoints with a hostname (StatefulSet pods) get `<hostname>.<svc>.<ns>.svc.cluster.local`.
 *
 * Why not upstream kube-proxy: several clusters share one network namespace in the tests, and kube-proxy's
 * nftables mode owns a table of a fixed name (`ip kube-proxy`), so two of them would overwrite each other's
 * rules. This forwarder owns `ip redis-dr-<range>` instead, and rewrites the whole table in one `nft -f`
 * transaction (delete and create) whenever its text changes.
 *
 * Everything here runs in processes of the namespace, so all Service traffic is locally generated: the DNAT
 * chain hooks `output`, and the rewritten packet is then delivered locally to the endpoint's address.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Logger } from "pino";
import { isObject, type JsonObject, type KubeObject } from "../sandbox/api/types.ts";
import {
  podHostNames,
  renderHostsFile,
  serviceHostNames,
  withExternalNames,
  writeHostsFileInPlace,
  type HostEntry,
} from "../sandbox/network/services.ts";
import { assertPrivateNetworkNamespace } from "./control-plane.ts";
import { ApiRequestError, JsonInformer, type JsonClient } from "./json-client.ts";
import type { HostsFiles } from "./node-agent.ts";

const NFT = existsSync("/usr/sbin/nft") ? "/usr/sbin/nft" : "nft";
/** Changes arriving within this window are applied together. */
const DEBOUNCE_MS = 50;
const RETRY_MS = 1_000;
const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

export interface ServicePortView {
  name: string;
  port: number;
  protocol: string;
}

/** The fields of a Service this network acts on, read from the API's JSON. */
export interface ServiceView {
  namespace: string;
  name: string;
  type: string;
  /** undefined for headless and ExternalName Services. */
  clusterIP: string | undefined;
  headless: boolean;
  externalName: string | undefined;
  ports: ServicePortView[];
  /** Another LoadBalancer implementation's class: such a Service is not given an address here. */
  loadBalancerClass: string | undefined;
  ingressIp: string | undefined;
}

export interface EndpointView {
  addresses: string[];
  ready: boolean;
  hostname: string | undefined;
}

/** An IPv4 EndpointSlice: the Service it belongs to, its ports and endpoints. */
export interface SliceView {
  namespace: string;
  service: string;
  ports: ServicePortView[];
  endpoints: EndpointView[];
}

/** One frontend address:port and where its connections go (no backend: refused). */
export interface Forward {
  comment: string;
  ip: string;
  port: number;
  backends: { ip: string; port: number }[];
}

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

function portViews(value: unknown): ServicePortView[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter(isObject)
    .flatMap((port) =>
      typeof port.port === "number"
        ? [{ name: str(port.name) ?? "", port: port.port, protocol: str(port.protocol) ?? "TCP" }]
        : [],
    );
}

export function serviceView(service: KubeObject): ServiceView {
  const spec: JsonObject = isObject(service.spec) ? service.spec : {};
  const status: JsonObject = isObject(service.status) ? service.status : {};
  const loadBalancer: JsonObject = isObject(status.loadBalancer) ? status.loadBalancer : {};
  const ingress = Array.isArray(loadBalancer.ingress) ? loadBalancer.ingress : [];
  const first: unknown = ingress[0];
  const type = str(spec.type) ?? "ClusterIP";
  const clusterIP = str(spec.clusterIP);
  return {
    namespace: service.metadata.namespace ?? "",
    name: service.metadata.name ?? "",
    type,
    clusterIP: type === "ExternalName" || clusterIP === "None" || clusterIP === "" ? undefined : clusterIP,
    headless: clusterIP === "None",
    externalName: type === "ExternalName" ? str(spec.externalName) : undefined,
    ports: portViews(spec.ports),
    loadBalancerClass: str(spec.loadBalancerClass),
    ingressIp: isObject(first) ? str(first.ip) : undefined,
  };
}

/** undefined for slices this network does not use (not IPv4, or of no Service). */
export function sliceView(slice: KubeObject): SliceView | undefined {
  const service = slice.metadata.labels?.[SERVICE_NAME_LABEL];
  if (service === undefined || (slice as JsonObject).addressType !== "IPv4") return undefined;
  const endpoints = (slice as JsonObject).endpoints;
  return {
    namespace: slice.metadata.namespace ?? "",
    service,
    ports: portViews((slice as JsonObject).ports),
    endpoints: (Array.isArray(endpoints) ? endpoints : []).filter(isObject).map((endpoint) => {
      const conditions: JsonObject = isObject(endpoint.conditions) ? endpoint.conditions : {};
      return {
        addresses: Array.isArray(endpoint.addresses)
          ? endpoint.addresses.filter((a): a is string => typeof a === "string")
          : [],
        // An unset condition means ready (EndpointSlice API: "nil should be interpreted as ready").
        ready: conditions.ready !== false,
        hostname: str(endpoint.hostname),
      };
    }),
  };
}

const byAddress = (a: { ip: string; port: number }, b: { ip: string; port: number }) =>
  a.ip.localeCompare(b.ip, "en", { numeric: true }) || a.port - b.port;

/** The ready endpoints of a Service port: the slices' port of the same name (and protocol) gives the port. */
export function readyBackends(slices: SliceView[], port: ServicePortView): { ip: string; port: number }[] {
  const backends = new Map<string, { ip: string; port: number }>();
  for (const slice of slices) {
    const target = slice.ports.find((p) => p.name === port.name && p.protocol === port.protocol);
    if (!target) continue;
    for (const endpoint of slice.endpoints) {
      if (!endpoint.ready) continue;
      for (const ip of endpoint.addresses) backends.set(`${ip}:${target.port}`, { ip, port: target.port });
    }
  }
  return [...backends.values()].sort(byAddress);
}

/** The TCP frontends of a Service (ClusterIP and LoadBalancer address, each port) and their backends. */
export function forwardsOf(service: ServiceView, slices: SliceView[], lbIp: string | undefined): Forward[] {
  const ips = [service.clusterIP, lbIp].filter((ip): ip is string => ip !== undefined);
  return service.ports
    .filter((port) => port.protocol === "TCP")
    .flatMap((port) => {
      const backends = readyBackends(slices, port);
      const comment = `${service.namespace}/${service.name}${port.name ? `:${port.name}` : ""}`;
      return ips.map((ip) => ({ comment, ip, port: port.port, backends }));
    });
}

/**
 * The nftables table for these forwards: a NAT chain on `output` (dstnat priority) that DNATs to one of the
 * backends (`numgen random` over a map when there are several), and a filter chain after it that resets
 * connections to frontends without a backend (their destination was not rewritten).
 */
export function renderRuleset(table: string, forwards: Forward[]): string {
  const match = (f: Forward) => `ip daddr ${f.ip} tcp dport ${f.port}`;
  const dnat = (f: Forward) => {
    if (f.backends.length === 1) return `dnat to ${f.backends[0]?.ip}:${f.backends[0]?.port}`;
    const elements = f.backends.map((b, i) => `${i} : ${b.ip} . ${b.port}`).join(", ");
    return `dnat to numgen random mod ${f.backends.length} map { ${elements} }`;
  };
  const served = forwards.filter((f) => f.backends.length > 0);
  const refused = forwards.filter((f) => f.backends.length === 0);
  return [
    `table ip ${table} {`,
    "\tchain services {",
    "\t\ttype nat hook output priority -100; policy accept;",
    ...served.map((f) => `\t\t${match(f)} ${dnat(f)} comment "${f.comment}"`),
    "\t}",
    "\tchain no-endpoints {",
    "\t\ttype filter hook output priority 0; policy accept;",
    ...refused.map(
      (f) => `\t\t${match(f)} reject with tcp reset comment "${f.comment} has no ready endpoints"`,
    ),
    "\t}",
    "}",
    "",
  ].join("\n");
}

/**
 * ip → names as a pod of `namespace` sees them: the extra hosts, every Service (headless: one line per ready
 * endpoint), ExternalName targets, then the hostname records of headless Services' endpoints.
 */
export function hostEntries(
  services: ServiceView[],
  slicesOf: (service: ServiceView) => SliceView[],
  extraHosts: ReadonlyMap<string, string>,
  namespace: string | undefined,
): HostEntry[] {
  const entries: HostEntry[] = [];
  for (const [name, ip] of extraHosts) entries.push([ip, [name]]);
  const externalNames: HostEntry[] = [];
  const records: HostEntry[] = [];
  for (const service of services) {
    const names = serviceHostNames(service.name, service.namespace, namespace);
    if (service.externalName !== undefined) externalNames.push([service.externalName, names]);
    else if (service.clusterIP !== undefined) entries.push([service.clusterIP, names]);
    if (!service.headless) continue;
    const ready = slicesOf(service)
      .flatMap((slice) => slice.endpoints)
      .filter((endpoint) => endpoint.ready);
    const ips = [...new Set(ready.flatMap((endpoint) => endpoint.addresses))];
    for (const ip of ips.sort((a, b) => a.localeCompare(b, "en", { numeric: true })))
      entries.push([ip, names]);
    for (const endpoint of ready) {
      const ip = endpoint.addresses[0];
      if (endpoint.hostname === undefined || ip === undefined) continue;
      records.push([ip, podHostNames(endpoint.hostname, service.name, service.namespace, namespace)]);
    }
  }
  records.sort(([, a], [, b]) => (a[0] ?? "").localeCompare(b[0] ?? "", "en", { numeric: true }));
  return [...withExternalNames(entries, externalNames), ...records];
}

export interface ServiceNetworkOptions {
  /** An admin client of the cluster (reads Services and EndpointSlices, writes Service status). */
  client: JsonClient;
  /** The cluster's range: it owns 10.<range>.0.0/16 and the table `ip redis-dr-<range>`. */
  range: number;
  logger: Logger;
}

interface HostsFile {
  path: string;
  namespace: string | undefined;
  self: string[];
}

export class ServiceNetwork implements HostsFiles {
  /** The nftables table of this cluster. */
  readonly table: string;
  private readonly client: JsonClient;
  private readonly range: number;
  private readonly logger: Logger;
  private readonly services: JsonInformer;
  private readonly slices: JsonInformer;
  private readonly hostsFiles = new Map<string, HostsFile>();
  private readonly extraHosts = new Map<string, string>();
  /** LoadBalancer addresses given here, by `namespace/name`, until the Service's status shows them. */
  private readonly assigned = new Map<string, string>();
  private nextLbHost = 1;
  private applied: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private started = false;
  private stopped = false;

  constructor(options: ServiceNetworkOptions) {
    this.client = options.client;
    this.range = options.range;
    this.logger = options.logger;
    this.table = `redis-dr-${options.range}`;
    // Informer callbacks only schedule a sync: the sync reads the caches.
    const handlers = { upsert: () => this.scheduleSync(), remove: () => this.scheduleSync() };
    this.services = new JsonInformer(this.client, "/api/v1/services", handlers, this.logger);
    this.slices = new JsonInformer(
      this.client,
      "/apis/discovery.k8s.io/v1/endpointslices",
      handlers,
      this.logger,
    );
  }

  /** Lists and watches Services and EndpointSlices, then installs the table and writes the hosts files. */
  async start(): Promise<void> {
    // The table changes the firewall of the namespace it runs in: never the machine's own.
    assertPrivateNetworkNamespace();
    this.started = true;
    await Promise.all([this.services.start(), this.slices.start()]);
    const first = this.syncing.then(() => this.sync());
    // The chain of syncs must stay resolved, or no later sync would run.
    this.syncing = first.catch(() => undefined);
    await first;
  }

  /** Stops watching and removes the table (connections already forwarded keep their NAT). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.services.stop();
    this.slices.stop();
    if (this.timer) clearTimeout(this.timer);
    await this.syncing.catch(() => undefined);
    if (this.started) await runNft(`table ip ${this.table}\ndelete table ip ${this.table}\n`);
  }

  /** Adds `name → ip` to every hosts file (e.g. another region's LoadBalancer address). */
  addHost(name: string, ip: string): void {
    this.extraHosts.set(name, ip);
    this.scheduleSync();
  }

  /** Keeps `path` up to date; `namespace` adds that namespace's short names, `self` the pod's own lines. */
  registerHostsFile(key: string, path: string, namespace: string | undefined, self: string[] = []): void {
    const file = { path, namespace, self };
    this.hostsFiles.set(key, file);
    this.writeHostsFile(file);
  }

  unregisterHostsFile(key: string): void {
    this.hostsFiles.delete(key);
  }

  /** The address a name resolves to in a hosts file of `namespace`, or undefined. */
  resolve(name: string, namespace?: string): string | undefined {
    return this.entries(namespace).find(([, names]) => names.includes(name))?.[0];
  }

  private serviceViews(): ServiceView[] {
    return this.services
      .list()
      .map(serviceView)
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  private sliceViews(): Map<string, SliceView[]> {
    const byService = new Map<string, SliceView[]>();
    for (const slice of this.slices.list()) {
      const view = sliceView(slice);
      if (!view) continue;
      const key = `${view.namespace}/${view.service}`;
      byService.set(key, [...(byService.get(key) ?? []), view]);
    }
    return byService;
  }

  private entries(namespace: string | undefined): HostEntry[] {
    const slices = this.sliceViews();
    return hostEntries(
      this.serviceViews(),
      (s) => slices.get(`${s.namespace}/${s.name}`) ?? [],
      this.extraHosts,
      namespace,
    );
  }

  private writeHostsFile(file: HostsFile): void {
    try {
      writeHostsFileInPlace(
        file.path,
        renderHostsFile(
          `Kubernetes-managed hosts file (real cluster 10.${this.range}.0.0/16).`,
          file.self,
          this.entries(file.namespace),
        ),
      );
    } catch (error) {
      this.logger.warn({ err: error, path: file.path }, "cannot write a hosts file");
    }
  }

  private scheduleSync(delay = DEBOUNCE_MS): void {
    if (this.timer || this.stopped || !this.started) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.syncing = this.syncing
        .then(() => this.sync())
        .catch((error: unknown) => {
          this.logger.error({ err: error, table: this.table }, "service network sync failed; retrying");
          this.scheduleSync(RETRY_MS);
        });
    }, delay);
  }

  private async sync(): Promise<void> {
    if (this.stopped) return;
    await this.assignLoadBalancerIps();
    const slices = this.sliceViews();
    const forwards = this.serviceViews().flatMap((service) =>
      forwardsOf(
        service,
        slices.get(`${service.namespace}/${service.name}`) ?? [],
        this.loadBalancerIp(service),
      ),
    );
    const ruleset = renderRuleset(this.table, forwards);
    if (ruleset !== this.applied && !this.stopped) {
      // One transaction: creating the table first makes the delete valid when it does not exist yet.
      await runNft(`table ip ${this.table}\ndelete table ip ${this.table}\n${ruleset}`);
      this.applied = ruleset;
      this.logger.debug({ table: this.table, forwards: forwards.length }, "service rules applied");
    }
    for (const file of this.hostsFiles.values()) this.writeHostsFile(file);
  }

  /** The ingress address of a LoadBalancer Service, or undefined (not one, or none given yet). */
  loadBalancerIpOf(namespace: string, name: string): string | undefined {
    const service = this.services.get(namespace, name);
    return service ? this.loadBalancerIp(serviceView(service)) : undefined;
  }

  /** The ingress address a LoadBalancer Service is served on here (its status's, or the one just given). */
  private loadBalancerIp(service: ServiceView): string | undefined {
    if (service.type !== "LoadBalancer" || service.loadBalancerClass !== undefined) return undefined;
    return service.ingressIp ?? this.assigned.get(`${service.namespace}/${service.name}`);
  }

  /**
   * Gives each LoadBalancer Service without an address the next free 10.R.160.x and writes it to its
   * status; clears the address of a Service that is no longer a LoadBalancer (the service-lb-controller's
   * job, which the control plane does not run).
   */
  private async assignLoadBalancerIps(): Promise<void> {
    const services = this.serviceViews();
    const live = new Set(services.map((s) => `${s.namespace}/${s.name}`));
    for (const key of this.assigned.keys()) if (!live.has(key)) this.assigned.delete(key);
    const inUse = new Set(services.map((s) => this.loadBalancerIp(s)).filter((ip) => ip !== undefined));
    const prefix = `10.${this.range}.160.`;
    for (const service of services) {
      const key = `${service.namespace}/${service.name}`;
      const statusPath = `/api/v1/namespaces/${service.namespace}/services/${service.name}/status`;
      if (service.type !== "LoadBalancer" && service.ingressIp?.startsWith(prefix)) {
        this.assigned.delete(key);
        await this.patchStatus(statusPath, { loadBalancer: { ingress: null } });
        continue;
      }
      if (service.type !== "LoadBalancer" || service.loadBalancerClass !== undefined) continue;
      if (service.ingressIp !== undefined) {
        this.assigned.delete(key);
        continue;
      }
      let ip = this.assigned.get(key);
      if (ip === undefined) {
        ip = this.allocateLoadBalancerIp(inUse);
        this.assigned.set(key, ip);
        inUse.add(ip);
        this.logger.info({ service: key, ip }, "LoadBalancer address assigned");
      }
      await this.patchStatus(statusPath, { loadBalancer: { ingress: [{ ip, ipMode: "VIP" }] } });
    }
  }

  /** The next free 10.R.160.1–254 after the last one given, so a released address is reused last. */
  private allocateLoadBalancerIp(inUse: Set<string>): string {
    for (let i = 0; i < 254; i++) {
      const host = ((this.nextLbHost - 1 + i) % 254) + 1;
      const ip = `10.${this.range}.160.${host}`;
      if (inUse.has(ip)) continue;
      this.nextLbHost = (host % 254) + 1;
      return ip;
    }
    throw new Error(`no free LoadBalancer address left in 10.${this.range}.160.0/24`);
  }

  /** A failed write is logged and tried again later: it must not hold back the other Services' rules. */
  private async patchStatus(path: string, status: JsonObject): Promise<void> {
    try {
      await this.client.patch(path, { status });
    } catch (error) {
      // Deleted meanwhile: its removal schedules the next sync.
      if (error instanceof ApiRequestError && error.code === 404) return;
      this.logger.warn({ err: error, path }, "cannot write a Service's LoadBalancer status; retrying");
      this.scheduleSync(RETRY_MS);
    }
  }
}

/** Runs `nft -f -` with `script`; rejects with nft's message when it fails (nothing of it is applied then). */
function runNft(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(NFT, ["-f", "-"], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`nft -f - exited with ${code}: ${stderr.trim()}\nscript:\n${script}`));
    });
    child.stdin.end(script);
  });
}
