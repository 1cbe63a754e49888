/**
 * A real Kubernetes control plane from the binaries hack/k8s/build.sh builds: etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler, each a child process, with the PKI and kubeconfigs a cluster
 * has (client-certificate users, ServiceAccount signing keys, the kubelet client certificate and CA).
 *
 * It runs only inside a network namespace of its own (hack/k8s/in-netns.sh makes one: loopback up and all of
 * 10.0.0.0/8 local on it, nothing routed out), so no address a cluster uses can reach anything else. Each
 * cluster owns 10.<range>.0.0/16 there, so several ("regions") run side by side:
 *
 *   10.R.0.1:6443   kube-apiserver            10.R.0.2:2379   etcd
 *   10.R.0.3 + i    node i (its agent's port 10250), i < 4
 *   10.R.1.0 …      pod IPs: node i's from 10.R.(1+32i).1 to 10.R.(32+32i).254       10.R.160.0 …  LoadBalancer IPs
 *   10.R.192.0/18   Service ClusterIPs (the API server allocates them; `kubernetes` is 10.R.192.1)
 *
 * The API server's addresses are not loopback, because EndpointSlice validation refuses loopback addresses
 * (the `kubernetes` Service's endpoints would be refused).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import YAML from "yaml";
import { CLUSTER_DOMAIN } from "../sandbox/network/services.ts";
import {
  createCa,
  issueClientCertificate,
  issueServingCertificate,
  type CertificateAuthority,
} from "../sandbox/certs.ts";

/** The address plan of cluster `range` (see the file's header). */
export function clusterAddresses(range: number) {
  if (!Number.isInteger(range) || range < 1 || range > 254)
    throw new Error(`cluster range must be an integer in 1..254, got ${range}`);
  const prefix = `10.${range}`;
  return {
    apiServer: `${prefix}.0.1`,
    etcd: `${prefix}.0.2`,
    node: (index: number) => `${prefix}.0.${3 + index}`,
    /** The third octets of node `index`'s pod addresses. */
    podOctets: (index: number) => ({ first: 1 + 32 * index, last: 32 + 32 * index }),
    maxNodes: 4,
    serviceCidr: `${prefix}.192.0/18`,
    kubernetesServiceIp: `${prefix}.192.1`,
  } as const;
}

export interface ControlPlaneOptions {
  /** Directory for this cluster's PKI, kubeconfigs, etcd data and logs. */
  dir: string;
  /** Second octet of this cluster's addresses (10.R.0.0/16). */
  range: number;
  /** Directory holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl. */
  binaries: string;
  logger: Logger;
  /**
   * kube-controller-manager controllers to leave off (e.g. `statefulset-controller`, so StatefulSets never
   * get pods: the scale bench's pod-less clusters). Default none.
   */
  disabledControllers?: readonly string[];
}

interface Credentials {
  cert: string;
  key: string;
}

/** Where a process's stdout and stderr go, and the process. */
interface ComponentProcess {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
}

/** True when this process's network namespace has no interface but loopback (/proc/self/net/dev lists them). */
export function inPrivateNetworkNamespace(): boolean {
  const names = privateNetworkInterfaces();
  return names.length === 1 && names[0] === "lo";
}

function privateNetworkInterfaces(): string[] {
  return readFileSync("/proc/self/net/dev", "utf8")
    .split("\n")
    .slice(2)
    .map((line) => line.split(":")[0]?.trim() ?? "")
    .filter((name) => name !== "");
}

/** Throws unless this process runs in a network namespace of its own. */
export function assertPrivateNetworkNamespace(): void {
  if (!inPrivateNetworkNamespace())
    throw new Error(
      `the real control plane runs only inside a network namespace of its own (here: ${privateNetworkInterfaces().join(", ")}), ` +
        "so that none of its addresses reach anything outside this machine: run the command under " +
        "hack/k8s/in-netns.sh",
    );
}

export class ControlPlane {
  readonly addresses: ReturnType<typeof clusterAddresses>;
  readonly server: string;
  readonly adminKubeconfigPath: string;
  readonly pki: string;
  private ca!: CertificateAuthority;
  private readonly processes: ComponentProcess[] = [];
  private stopped = false;

  constructor(private readonly options: ControlPlaneOptions) {
    this.addresses = clusterAddresses(options.range);
    this.server = `https://${this.addresses.apiServer}:6443`;
    this.pki = join(options.dir, "pki");
    this.adminKubeconfigPath = join(options.dir, "admin.kubeconfig");
  }

  get range(): number {
    return this.options.range;
  }

  /** The running components' process IDs, by name (for benchmarks that read their CPU time from /proc). */
  pids(): Record<string, number> {
    const pids: Record<string, number> = {};
    for (const { name, child } of this.processes)
      if (child.pid !== undefined && child.exitCode === null) pids[name] = child.pid;
    return pids;
  }

  get caPem(): string {
    return this.ca.certPem;
  }

  /** Test hook: signals a running component (SIGSTOP/SIGCONT the API server for an unreachable one). */
  signal(
    component: "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler",
    signal: NodeJS.Signals,
  ): void {
    const running = this.processes.filter(
      (p) => p.name === component && p.child.exitCode === null && p.child.signalCode === null,
    );
    if (running.length === 0) throw new Error(`${component} is not running`);
    for (const p of running) p.child.kill(signal);
  }

  /** Writes the PKI and starts etcd, then the API server, then the controller manager and the scheduler. */
  async start(): Promise<void> {
    assertPrivateNetworkNamespace();
    const started = Date.now();
    this.writePki();
    await this.startEtcd();
    await this.startApiServer();
    this.startControllerManager();
    this.startScheduler();
    this.options.logger.info(
      { server: this.server, ms: Date.now() - started },
      "real control plane ready (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)",
    );
  }

  /** A client-node KubeConfig for the admin user (system:masters). */
  adminKubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.adminKubeconfigPath);
    return kc;
  }

  /**
   * A kubeconfig file for a client-certificate user (CN = user, O = groups), e.g. a node agent as
   * `system:node:<name>` in `system:nodes`, which the Node authorizer and NodeRestriction then confine.
   */
  userKubeconfig(user: string, groups: string[] = []): string {
    const safe = user.replace(/[^a-zA-Z0-9.-]/g, "_");
    const credentials = this.issueClient(safe, user, groups);
    return this.writeKubeconfig(join(this.options.dir, `${safe}.kubeconfig`), user, credentials);
  }

  /** A kubeconfig for a bearer token (e.g. a ServiceAccount token from the TokenRequest API). */
  tokenKubeconfig(path: string, user: string, token: string): string {
    writeFileSync(path, YAML.stringify(this.kubeconfigObject(user, { token })), { mode: 0o600 });
    return path;
  }

  /** The API server's client certificate for kubelets, and the CA a node agent trusts clients of. */
  get kubeletClientCaPath(): string {
    return join(this.pki, "ca.crt");
  }

  /** Issues the serving certificate of a node agent (name and address), signed by the cluster CA. */
  issueNodeServingCertificate(nodeName: string, address: string): Credentials & { ca: string } {
    const dir = join(this.pki, `node-${nodeName}`);
    issueServingCertificate(this.ca, dir, [nodeName], [address]);
    return { cert: join(dir, "tls.crt"), key: join(dir, "tls.key"), ca: join(dir, "ca.crt") };
  }

  /** The last lines of a component's log, for error messages. */
  logTail(name: string, lines = 20): string {
    const component = this.processes.find((p) => p.name === name);
    if (!component) return "";
    return readFileSync(component.log, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Reverse order: the API server's clients first, etcd last.
    for (const component of [...this.processes].reverse()) {
      if (component.child.exitCode === null && component.child.signalCode === null) {
        component.child.kill("SIGTERM");
        const killer = setTimeout(() => component.child.kill("SIGKILL"), 5_000);
        await component.exited;
        clearTimeout(killer);
      }
    }
  }

  private writePki(): void {
    mkdirSync(this.pki, { recursive: true });
    this.ca = createCa(join(this.pki, "ca"), `redis-dr-real-cluster-${this.options.range}`);
    writeFileSync(join(this.pki, "ca.crt"), this.ca.certPem);
    const { apiServer, kubernetesServiceIp } = this.addresses;
    issueServingCertificate(
      this.ca,
      join(this.pki, "apiserver"),
      [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        `kubernetes.default.svc.${CLUSTER_DOMAIN}`,
        "localhost",
      ],
      [apiServer, kubernetesServiceIp, "127.0.0.1"],
    );
    // The ServiceAccount token signing key (RS256, as kube-apiserver expects by default).
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    writeFileSync(join(this.pki, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
    writeFileSync(join(this.pki, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }), {
      mode: 0o600,
    });
    this.issueClient("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ["kubeadm:cluster-admins"]);
    this.writeKubeconfig(
      this.adminKubeconfigPath,
      "admin",
      this.issueClient("admin", "admin", ["system:masters"]),
    );
  }

  private issueClient(file: string, user: string, groups: string[]): Credentials {
    const dir = join(this.pki, `client-${file}`);
    issueClientCertificate(this.ca, dir, user, groups);
    return { cert: join(dir, "tls.crt"), key: join(dir, "tls.key") };
  }

  private kubeconfigObject(user: string, auth: Record<string, string>): Record<string, unknown> {
    const name = `real-${this.options.range}`;
    return {
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name,
          cluster: {
            server: this.server,
            "certificate-authority-data": Buffer.from(this.ca.certPem).toString("base64"),
          },
        },
      ],
      users: [{ name: user, user: auth }],
      contexts: [{ name, context: { cluster: name, user } }],
      "current-context": name,
    };
  }

  private writeKubeconfig(path: string, user: string, credentials: Credentials): string {
    const auth = {
      "client-certificate-data": readFileSync(credentials.cert).toString("base64"),
      "client-key-data": readFileSync(credentials.key).toString("base64"),
    };
    writeFileSync(path, YAML.stringify(this.kubeconfigObject(user, auth)), { mode: 0o600 });
    return path;
  }

  private spawnComponent(name: string, args: string[]): ComponentProcess {
    mkdirSync(join(this.options.dir, "logs"), { recursive: true });
    const log = join(this.options.dir, "logs", `${name}.log`);
    const fd = openSync(log, "a");
    // A parent-death signal: the component dies with the harness even if the harness is killed.
    const child = spawn(
      "setpriv",
      ["--pdeathsig", "KILL", "--", join(this.options.binaries, name), ...args],
      {
        stdio: ["ignore", fd, fd],
      },
    );
    closeSync(fd);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const component = { name, child, log, exited };
    child.once("exit", (code, signal) => {
      if (!this.stopped)
        this.options.logger.error({ component: name, code, signal, log }, "control plane component exited");
    });
    this.processes.push(component);
    return component;
  }

  private async startEtcd(): Promise<void> {
    const { etcd } = this.addresses;
    const etcdComponent = this.spawnComponent("etcd", [
      "--name",
      `real-${this.options.range}`,
      "--data-dir",
      join(this.options.dir, "etcd"),
      "--listen-client-urls",
      `http://${etcd}:2379`,
      "--advertise-client-urls",
      `http://${etcd}:2379`,
      "--listen-peer-urls",
      `http://${etcd}:2380`,
      "--initial-advertise-peer-urls",
      `http://${etcd}:2380`,
      "--initial-cluster",
      `real-${this.options.range}=http://${etcd}:2380`,
      // Test clusters: durability across a machine crash is not needed, and fsync dominates on shared disks.
      "--unsafe-no-fsync",
      "--log-level",
      "warn",
    ]);
    await this.poll("etcd", etcdComponent, async () => {
      const response = await fetch(`http://${etcd}:2379/health`).catch(() => undefined);
      return response?.ok === true;
    });
  }

  private async startApiServer(): Promise<void> {
    const { apiServer, etcd, serviceCidr } = this.addresses;
    const pki = this.pki;
    const component = this.spawnComponent("kube-apiserver", [
      `--etcd-servers=http://${etcd}:2379`,
      `--bind-address=${apiServer}`,
      `--advertise-address=${apiServer}`,
      "--secure-port=6443",
      `--service-cluster-ip-range=${serviceCidr}`,
      "--authorization-mode=Node,RBAC",
      // NodeRestriction confines a node agent to its own Node and pods; PodSecurity is on by default.
      "--enable-admission-plugins=NodeRestriction",
      `--client-ca-file=${join(pki, "ca.crt")}`,
      `--tls-cert-file=${join(pki, "apiserver", "tls.crt")}`,
      `--tls-private-key-file=${join(pki, "apiserver", "tls.key")}`,
      `--service-account-issuer=https://kubernetes.default.svc.${CLUSTER_DOMAIN}`,
      `--service-account-key-file=${join(pki, "sa.pub")}`,
      `--service-account-signing-key-file=${join(pki, "sa.key")}`,
      // kubectl exec/logs reach the node agent authenticated both ways, as in a cluster.
      `--kubelet-client-certificate=${join(pki, "client-apiserver-kubelet-client", "tls.crt")}`,
      `--kubelet-client-key=${join(pki, "client-apiserver-kubelet-client", "tls.key")}`,
      `--kubelet-certificate-authority=${join(pki, "ca.crt")}`,
      "--kubelet-preferred-address-types=InternalIP",
      "--allow-privileged=true",
      "--profiling=false",
      "--v=1",
    ]);
    const ca = readFileSync(join(pki, "ca.crt"));
    await this.poll("kube-apiserver", component, () => this.readyz(ca));
  }

  private readyz(ca: Buffer): Promise<boolean> {
    return new Promise((resolve) => {
      const request = https.get(`${this.server}/readyz`, { ca, timeout: 2_000, agent: false }, (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      });
      request.on("error", () => resolve(false));
      request.on("timeout", () => request.destroy());
    });
  }

  private startControllerManager(): void {
    const kubeconfig = this.writeKubeconfig(
      join(this.options.dir, "kube-controller-manager.kubeconfig"),
      "system:kube-controller-manager",
      this.issueClient("kube-controller-manager", "system:kube-controller-manager", []),
    );
    this.spawnComponent("kube-controller-manager", [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      // Every default controller, the node lifecycle controller included: it removes the not-ready taint the
      // API server puts on a new Node once the node agent reports Ready (and would taint it again if the
      // agent's heartbeats stopped, as in a cluster).
      `--controllers=${["*", ...(this.options.disabledControllers ?? []).map((name) => `-${name}`)].join(",")}`,
      `--service-account-private-key-file=${join(this.pki, "sa.key")}`,
      `--root-ca-file=${join(this.pki, "ca.crt")}`,
      "--use-service-account-credentials",
      `--service-cluster-ip-range=${this.addresses.serviceCidr}`,
      "--bind-address=127.0.0.1",
      "--secure-port=0",
      "--v=1",
    ]);
  }

  private startScheduler(): void {
    const kubeconfig = this.writeKubeconfig(
      join(this.options.dir, "kube-scheduler.kubeconfig"),
      "system:kube-scheduler",
      this.issueClient("kube-scheduler", "system:kube-scheduler", []),
    );
    this.spawnComponent("kube-scheduler", [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      "--secure-port=0",
      "--v=1",
    ]);
  }

  /** Polls `ready` every 100 ms until it holds; fails with the log's tail if the process exits or 60 s pass. */
  private async poll(
    name: string,
    component: ComponentProcess,
    ready: () => Promise<boolean>,
  ): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (component.child.exitCode !== null || component.child.signalCode !== null)
        throw new Error(
          `${name} exited before it was ready; ${component.log} ends with:\n${this.logTail(name)}`,
        );
      if (await ready()) return;
      if (Date.now() > deadline)
        throw new Error(`${name} not ready after 60 s; ${component.log} ends with:\n${this.logTail(name)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
