/**
 * One sandbox ("region"): the API server, the StatefulSet controller, the service network and DNS, the
 * kubelet, and optionally the operator's webhook and controller processes — all on the loopback range
 * 127.R.0.0/16 (see network/addresses.ts). `Sandbox.start()` brings it up; `stop()` ends every process it
 * started and removes its working directory.
 */
import { ALLOW_SOURCE_CIDRS_ENV } from "../../webhook/config.ts";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  existsSync,
} from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pino, { type Logger } from "pino";
import YAML from "yaml";
import { ApiCore } from "./api/core.ts";
import { ApiServer } from "./api/server.ts";
import { ApiError, isObject, type KubeObject } from "./api/types.ts";
import { createCa, issueServingCertificate, type CertificateAuthority } from "./certs.ts";
import { StatefulSetController } from "./controllers/statefulset.ts";
import { Kubelet } from "./kubelet/kubelet.ts";
import { SandboxNodeBackend } from "./kubelet/sandbox-backend.ts";
import { checkHost, prepareRuntimeFiles } from "./kubelet/runtime.ts";
import { addressPlan, IpPool } from "./network/addresses.ts";
import { lbIngressIp, ServiceNetwork } from "./network/services.ts";
import { OperatorProcess } from "./operator.ts";
import { shippedProgram } from "../k8s/image.ts";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Sandbox files live under /var/tmp, not /tmp: pods get a private /tmp, which would hide them (the
 * LD_PRELOAD library and volume sources) inside the pod.
 */
const SANDBOX_TMP = existsSync("/var/tmp") ? "/var/tmp" : tmpdir();

export const OPERATOR_NAMESPACE = "redis-dr-system";

/** The pod runner's files (podnet.so, the image's /usr/local/bin), built once and shared by every cluster. */
export const podRuntimeFiles = () =>
  prepareRuntimeFiles(
    join(SANDBOX_TMP, "redis-dr-sandbox-runtime"),
    join(REPO_ROOT, "hack/sandbox/kubelet/podnet.c"),
  );
export const WEBHOOK_SERVICE = "redis-dr-webhook";

export interface SandboxOptions {
  /** Second octet of the sandbox's loopback range 127.R.0.0/16 (default 10: "region a"). */
  range?: number;
  /** A name for logs and the node name (default `region-<range>`). */
  name?: string;
  /** Working directory (pods, PVC data, certificates, logs); default a fresh temporary directory. */
  dir?: string;
  /** Keep `dir` after stop (default: removed when it was created by the sandbox). */
  keepDir?: boolean;
  /** Where to write the kubeconfig (default `<dir>/kubeconfig`). */
  kubeconfigPath?: string;
  /** CRD manifests to install (default: every file in manifests/crd/). */
  crdFiles?: string[];
  /** Start the webhook (webhook/main.ts) and install the webhook configurations (default false). */
  webhook?: boolean;
  /** Start the controller (controller/main.ts) (default false). */
  controller?: boolean;
  /** Extra arguments for the controller, e.g. ["--leader-elect"]. */
  controllerArgs?: string[];
  /** Extra environment for the operator processes. */
  operatorEnv?: Record<string, string>;
  /**
   * How the webhook and the controller run: `tsx` (default) runs the TypeScript sources; `shipped` runs them
   * as the image does, compiled by tsc (hack/k8s/image.ts) under plain `node` with NODE_ENV=production.
   */
  operatorForm?: "tsx" | "shipped";
  /** Port of the API server (default: a free port). */
  apiPort?: number;
  /** Cap of probe periods in seconds (default 1), to keep tests quick. */
  probePeriodCapSeconds?: number;
  logger?: Logger;
}

/** A free TCP port on `host`. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

/** The last `lines` lines of a log file (for error messages). */
function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export class Sandbox {
  readonly core: ApiCore;
  readonly api: ApiServer;
  readonly network: ServiceNetwork;
  readonly kubelet: Kubelet;
  readonly statefulSets: StatefulSetController;
  readonly range: number;
  readonly dir: string;
  readonly kubeconfigPath: string;
  readonly logger: Logger;
  apiUrl = "";
  /** The sandbox CA: signs the API server's and the webhook's certificates (caBundle of webhooks). */
  readonly ca: CertificateAuthority;
  webhook: OperatorProcess | undefined;
  controller: OperatorProcess | undefined;
  /** Where the controller started by startController serves its metrics (127.0.0.1). */
  controllerMetricsPort: number | undefined;
  readonly controllerReplicas: OperatorProcess[] = [];
  private webhookAddress: { host: string; port: number } | undefined;
  private readonly ownsDir: boolean;
  private readonly operatorHosts: string;

  private constructor(private readonly options: SandboxOptions) {
    this.range = options.range ?? 10;
    const plan = addressPlan(this.range);
    this.logger = options.logger ?? pino({ level: "silent" });
    this.ownsDir = options.dir === undefined;
    this.dir = options.dir ?? mkdtempSync(join(SANDBOX_TMP, `redis-dr-sandbox-${this.range}-`));
    mkdirSync(this.dir, { recursive: true });
    this.kubeconfigPath = options.kubeconfigPath ?? join(this.dir, "kubeconfig");
    this.operatorHosts = join(this.dir, "operator-hosts");
    this.core = new ApiCore((namespace, name, port) => this.resolveService(namespace, name, port));
    this.ca = createCa(join(this.dir, "ca"));
    const apiCertDir = join(this.dir, "apiserver-certs");
    issueServingCertificate(this.ca, apiCertDir, ["localhost", "kubernetes.default.svc"], [plan.apiServerIp]);
    this.api = new ApiServer(this.core, {
      host: plan.apiServerIp,
      ...(options.apiPort ? { port: options.apiPort } : {}),
      cert: readFileSync(join(apiCertDir, "tls.crt"), "utf8"),
      key: readFileSync(join(apiCertDir, "tls.key"), "utf8"),
      logger: this.logger.child({ component: "apiserver" }),
      podLogFile: (namespace, name, container) => this.kubelet.logFile(namespace, name, container),
      podExec: (namespace, name, container, argv) => this.kubelet.spawnExec(namespace, name, argv, container),
    });
    this.network = new ServiceNetwork(this.core, this.range, this.logger.child({ component: "network" }));
    this.statefulSets = new StatefulSetController(
      this.core,
      this.logger.child({ component: "statefulset-controller" }),
    );
    const files = podRuntimeFiles();
    const nodeName = options.name ?? `region-${this.range}`;
    this.kubelet = new Kubelet(
      new SandboxNodeBackend(this.core, this.network, new IpPool(this.range, 1, 99), nodeName, this.dir),
      {
        nodeName,
        dir: this.dir,
        files,
        probePeriodCapSeconds: options.probePeriodCapSeconds ?? 1,
      },
      this.logger.child({ component: "kubelet" }),
    );
  }

  static async start(options: SandboxOptions = {}): Promise<Sandbox> {
    checkHost();
    const sandbox = new Sandbox(options);
    try {
      await sandbox.boot();
    } catch (error) {
      await sandbox.stop();
      throw error;
    }
    return sandbox;
  }

  private async boot(): Promise<void> {
    this.apiUrl = await this.api.start();
    this.writeKubeconfig();
    this.network.start();
    this.statefulSets.start();
    this.kubelet.start();
    this.network.registerHostsFile("operator", this.operatorHosts, undefined);
    for (const file of this.options.crdFiles ?? defaultCrdFiles()) await this.applyFile(file);
    await this.ensureNamespace(OPERATOR_NAMESPACE);
    if (this.options.webhook) {
      await this.startWebhook();
      await this.installWebhookConfigurations();
    }
    if (this.options.controller) await this.startController();
  }

  private writeKubeconfig(): void {
    mkdirSync(dirname(this.kubeconfigPath), { recursive: true });
    const name = this.options.name ?? `sandbox-${this.range}`;
    const config = {
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name,
          cluster: {
            server: this.apiUrl,
            "certificate-authority-data": Buffer.from(this.ca.certPem).toString("base64"),
          },
        },
      ],
      users: [{ name: `${name}-admin`, user: { token: "sandbox-admin" } }],
      contexts: [{ name, context: { cluster: name, user: `${name}-admin`, namespace: "default" } }],
      "current-context": name,
    };
    writeFileSync(this.kubeconfigPath, YAML.stringify(config));
  }

  /** Where a Service's port is served, for webhook calls: the webhook process, or the Service's ClusterIP. */
  private resolveService(
    namespace: string,
    name: string,
    port: number,
  ): { host: string; port: number } | undefined {
    const routed = this.resolveServiceOverride(namespace, name);
    if (routed) return routed;
    if (namespace === OPERATOR_NAMESPACE && name === WEBHOOK_SERVICE && this.webhookAddress)
      return this.webhookAddress;
    const service = this.core.store.get("/services", namespace, name);
    const spec = service?.spec as { clusterIP?: string } | undefined;
    if (spec?.clusterIP && spec.clusterIP !== "None") return { host: spec.clusterIP, port };
    return undefined;
  }

  /** Routes `clientConfig.service` namespace/name to a process listening at host:port (tests' webhooks). */
  routeService(namespace: string, name: string, address: { host: string; port: number }): void {
    const previous = this.resolveServiceOverride;
    this.resolveServiceOverride = (ns, n) => (ns === namespace && n === name ? address : previous(ns, n));
  }

  private resolveServiceOverride: (
    namespace: string,
    name: string,
  ) => { host: string; port: number } | undefined = () => undefined;

  async ensureNamespace(name: string): Promise<void> {
    const type = this.core.type("", "v1", "namespaces");
    if (!this.core.tryGet(type, undefined, name))
      await this.core.create(type, undefined, { metadata: { name } });
  }

  /** Creates or replaces (keeping resourceVersion) every object in a YAML file. */
  async applyFile(path: string, transform: (object: KubeObject) => KubeObject = (o) => o): Promise<void> {
    const documents = YAML.parseAllDocuments(readFileSync(path, "utf8")).map((d) => d.toJS() as unknown);
    for (const document of documents) {
      if (!isObject(document)) continue;
      await this.apply(transform(document as KubeObject));
    }
  }

  async apply(object: KubeObject): Promise<KubeObject> {
    const type = this.core.typeOf(String(object.apiVersion), String(object.kind));
    const namespace = type.namespaced ? (object.metadata.namespace ?? "default") : undefined;
    const existing = this.core.tryGet(type, namespace, object.metadata.name ?? "");
    if (!existing) return this.core.create(type, namespace, object);
    return this.core.update(type, namespace, object.metadata.name ?? "", {
      ...object,
      metadata: { ...object.metadata, resourceVersion: existing.metadata.resourceVersion },
    });
  }

  // ------------------------------------------------------------------ operator processes

  private operatorEnv(): Record<string, string> {
    return {
      KUBECONFIG: this.kubeconfigPath,
      POD_NAMESPACE: OPERATOR_NAMESPACE,
      // Every Redis of the sandbox, sources included, listens on 127.0.0.0/8: the webhook must admit them.
      [ALLOW_SOURCE_CIDRS_ENV]: "127.0.0.0/8",
      ...this.options.operatorEnv,
    };
  }

  /** The node options, entry point and extra environment of one of the operator's programs. */
  private program(name: "webhook" | "controller"): {
    nodeArgs: string[];
    main: string;
    env: Record<string, string>;
  } {
    if (this.options.operatorForm !== "shipped")
      return { nodeArgs: ["--import", "tsx"], main: `${name}/main.ts`, env: {} };
    const { nodeArgs, main, env } = shippedProgram(name);
    return { nodeArgs: [...nodeArgs], main, env: { ...env } };
  }

  /** Starts webhook/main.ts with a certificate for its Service, and waits until it is ready. */
  async startWebhook(): Promise<OperatorProcess> {
    if (!existsSync(join(REPO_ROOT, "webhook/main.ts")))
      throw new Error("webhook/main.ts does not exist yet");
    const certDir = join(this.dir, "webhook-certs");
    const service = `${WEBHOOK_SERVICE}.${OPERATOR_NAMESPACE}`;
    issueServingCertificate(
      this.ca,
      certDir,
      [`${service}.svc`, `${service}.svc.cluster.local`, WEBHOOK_SERVICE, service],
      ["127.0.0.1"],
    );
    mkdirSync(join(this.dir, "logs"), { recursive: true });
    const log = join(this.dir, "logs", "webhook.log");
    const failure = (why: string) => new Error(`${why}; its log (${log}) ends with:\n${tail(log, 20)}`);
    // A port freePort() found free can be taken before the webhook binds it (by the ephemeral port of some
    // loopback connection): the webhook then exits with EADDRINUSE, and is started again on other ports.
    const program = this.program("webhook");
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const healthPort = await freePort();
      this.webhookAddress = { host: "127.0.0.1", port };
      const webhook = new OperatorProcess({
        name: "webhook",
        nodeArgs: program.nodeArgs,
        args: [
          program.main,
          "--cert-dir",
          certDir,
          "--port",
          String(port),
          "--health-port",
          String(healthPort),
          // On 127.0.0.1, not 0.0.0.0: a port freePort() found free can meanwhile be the ephemeral port of a
          // connection on another loopback address (pods, Services), and a 0.0.0.0 bind then fails.
          "--host",
          "127.0.0.1",
        ],
        cwd: REPO_ROOT,
        env: { ...this.operatorEnv(), ...program.env },
        hostsFile: this.operatorHosts,
        logFile: log,
        logger: this.logger,
      });
      this.webhook = webhook;
      webhook.start();
      const outcome = await this.waitReady(webhook, healthPort);
      if (outcome === "ready") return webhook;
      if (outcome === "timeout") throw failure("timed out waiting for the webhook's /readyz");
      if (attempt < 3 && tail(log, 5).includes("EADDRINUSE")) continue;
      throw failure("the webhook exited before it was ready");
    }
  }

  /** Polls the webhook's /readyz until it answers 200, the process exits, or 90 s pass. */
  private async waitReady(
    webhook: OperatorProcess,
    healthPort: number,
  ): Promise<"ready" | "exited" | "timeout"> {
    // Generous: a cold `node --import tsx` start on a busy machine takes many seconds.
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (!webhook.running) return "exited";
      const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
        (response) => response.status === 200,
        () => false,
      );
      if (ready) return "ready";
      if (Date.now() > deadline) return "timeout";
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Installs manifests/webhook/webhook-configurations.yaml with the sandbox CA injected as caBundle. */
  async installWebhookConfigurations(
    file = join(REPO_ROOT, "manifests/webhook/webhook-configurations.yaml"),
  ): Promise<void> {
    const caBundle = Buffer.from(this.ca.certPem).toString("base64");
    await this.applyFile(file, (object) => {
      const webhooks = Array.isArray(object.webhooks)
        ? (object.webhooks as { clientConfig?: Record<string, unknown> }[])
        : [];
      // What cert-manager's CA injector does for `cert-manager.io/inject-ca-from`.
      for (const webhook of webhooks) webhook.clientConfig = { ...webhook.clientConfig, caBundle };
      return object;
    });
  }

  /**
   * Starts controller/main.ts (again, after stopController or a kill), with `--metrics-port` on a free port
   * (`controllerMetricsPort`) and `controllerArgs`. POD_NAME is `redis-dr-controller-0`.
   */
  async startController(): Promise<OperatorProcess> {
    this.controller ??= await this.newController("redis-dr-controller-0", "controller.log");
    this.controller.start();
    return this.controller;
  }

  /** Starts one more controller process (leader election tests): its own POD_NAME, metrics port and log. */
  async startControllerReplica(name: string): Promise<OperatorProcess> {
    const replica = await this.newController(name, `${name}.log`);
    this.controllerReplicas.push(replica);
    replica.start();
    return replica;
  }

  private async newController(podName: string, logName: string): Promise<OperatorProcess> {
    if (!existsSync(join(REPO_ROOT, "controller/main.ts"))) {
      throw new Error("controller/main.ts does not exist yet");
    }
    mkdirSync(join(this.dir, "logs"), { recursive: true });
    const metricsPort = await freePort();
    if (podName === "redis-dr-controller-0") this.controllerMetricsPort = metricsPort;
    const program = this.program("controller");
    return new OperatorProcess({
      name: podName,
      nodeArgs: program.nodeArgs,
      args: [
        program.main,
        "--metrics-port",
        String(metricsPort),
        // See startWebhook: 127.0.0.1 avoids colliding with ephemeral ports on the other loopback addresses.
        "--metrics-host",
        "127.0.0.1",
        ...(this.options.controllerArgs ?? []),
      ],
      cwd: REPO_ROOT,
      env: { ...this.operatorEnv(), ...program.env, POD_NAME: podName },
      hostsFile: this.operatorHosts,
      logFile: join(this.dir, "logs", logName),
      logger: this.logger,
    });
  }

  async stopController(): Promise<void> {
    await this.controller?.stop();
  }

  // ------------------------------------------------------------------ helpers for tests and demos

  podIP(name: string, namespace = "default"): string | undefined {
    const pod = this.core.store.get("/pods", namespace, name);
    const ip = (pod?.status as { podIP?: string } | undefined)?.podIP;
    return typeof ip === "string" ? ip : undefined;
  }

  /** The LoadBalancer ingress IP of a Service. */
  loadBalancerIP(name: string, namespace = "default"): string | undefined {
    const service = this.core.store.get("/services", namespace, name);
    return service ? lbIngressIp(service) : undefined;
  }

  /**
   * Makes `name` resolve to `ip` in every pod and operator process of this sandbox — an external DNS name,
   * e.g. another region's LoadBalancer address under the name a RedisCluster's `source.host` uses.
   */
  addHost(name: string, ip: string): void {
    this.network.addStaticEntry(name, ip);
  }

  /** Resolves a cluster DNS name the way pods do (ClusterIP, or a pod IP for headless names). */
  resolve(name: string, fromNamespace?: string): string | undefined {
    return this.network.resolve(name, fromNamespace);
  }

  async stop(): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (step: () => Promise<void> | void) => {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    };
    await attempt(() => this.controller?.stop(2_000));
    for (const replica of this.controllerReplicas) await attempt(() => replica.stop(2_000));
    await attempt(() => this.webhook?.stop(2_000));
    await attempt(() => this.statefulSets.stop());
    await attempt(() => this.kubelet.stop());
    await attempt(() => this.network.stop());
    await attempt(() => this.api.stop());
    if (this.ownsDir && !this.options.keepDir)
      await attempt(() => rmSync(this.dir, { recursive: true, force: true }));
    if (errors.length > 0) throw new AggregateError(errors, "errors while stopping the sandbox");
  }
}

function defaultCrdFiles(): string[] {
  const dir = join(REPO_ROOT, "manifests/crd");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .map((f) => join(dir, f));
}

export const isNotFound = (error: unknown): boolean => error instanceof ApiError && error.code === 404;
