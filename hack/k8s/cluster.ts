/**
 * A real local Kubernetes cluster ("region"), whole: the upstream control plane (control-plane.ts), the
 * Service network (service-network.ts: ClusterIPs and LoadBalancer IPs by nftables DNAT, DNS as hosts
 * files), a default StorageClass with its provisioner (provisioner.ts), and one node agent running the pods
 * (node-agent.ts). Optionally redis-dr installed the way a user installs it: cert-manager's and
 * prometheus-operator's real CRDs, a cert-manager stand-in (cert-manager.ts), then `kubectl kustomize
 * manifests | kubectl apply --server-side`, so the webhook and the controller run as pods of their
 * Deployments, with their ServiceAccounts and the manifests' RBAC.
 *
 * Runs only inside a network namespace of its own (hack/k8s/in-netns.sh). See control-plane.ts for the
 * address plan: cluster `range` R owns 10.R.0.0/16.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import pino, { type Logger } from "pino";
import YAML from "yaml";
import type { KubeObject } from "../sandbox/api/types.ts";
import type { Kubelet } from "../sandbox/kubelet/kubelet.ts";
import { OPERATOR_NAMESPACE, podRuntimeFiles, REPO_ROOT } from "../sandbox/sandbox.ts";
import { startCertManagerStandIn, type CertManagerStandIn } from "./cert-manager.ts";
import { ControlPlane } from "./control-plane.ts";
import { productImageDir } from "./image.ts";
import { JsonClient } from "./json-client.ts";
import { NodeAgent } from "./node-agent.ts";
import { Provisioner } from "./provisioner.ts";
import { ServiceNetwork } from "./service-network.ts";
import { upstreamCrdFiles } from "./upstream-crds.ts";

const run = promisify(execFile);

export { OPERATOR_NAMESPACE };

export interface RealClusterOptions {
  /** Second octet of the cluster's addresses (10.R.0.0/16); clusters running at once need different ones. */
  range: number;
  /** The nodes, each run by a node agent (default one, `node-<range>`); at most 4. */
  nodes?: readonly NodeSpec[];
  /** State directory (default a new one under /var/tmp, removed when the cluster stops). */
  dir?: string;
  /** Keep the state directory when the cluster stops (logs, etcd data, volumes). */
  keepDir?: boolean;
  logger?: Logger;
  /** Install redis-dr from manifests/ (webhook and controller as pods). */
  operator?: boolean;
  /** Test-harness changes to the rendered manifests before they are applied. */
  install?: InstallOptions;
  probePeriodCapSeconds?: number;
  /** kube-controller-manager controllers to leave off (ControlPlaneOptions.disabledControllers). */
  disabledControllers?: readonly string[];
}

export interface NodeSpec {
  name: string;
  /** Extra Node labels, e.g. `topology.kubernetes.io/region` for manifests with a nodeSelector. */
  labels?: Record<string, string>;
}

export interface InstallOptions {
  /** Install the webhook configurations (default true); without them the webhook runs but is not called. */
  webhookConfigurations?: boolean;
  /** The controller Deployment's replicas (default: the manifest's). */
  controllerReplicas?: number;
  /** Extra environment for the webhook and the controller containers (e.g. a short resync for tests). */
  env?: Record<string, string>;
}

const OPERATOR_DEPLOYMENTS = ["redis-dr-webhook", "redis-dr-controller"];

/** The rendered manifests with the harness's changes (InstallOptions) applied. */
function adjustManifests(rendered: string, install: InstallOptions): string {
  const documents = YAML.parseAllDocuments(rendered).map((document) => document.toJS() as KubeObject | null);
  const kept = documents.filter((object): object is KubeObject => {
    if (object === null) return false;
    const isWebhookConfiguration = /^(Validating|Mutating)WebhookConfiguration$/.test(String(object.kind));
    return !(isWebhookConfiguration && install.webhookConfigurations === false);
  });
  for (const object of kept) {
    if (object.kind !== "Deployment" || !OPERATOR_DEPLOYMENTS.includes(object.metadata.name ?? "")) continue;
    const spec = object.spec as {
      replicas?: number;
      template: { spec: { containers: { env?: unknown[] }[] } };
    };
    if (object.metadata.name === "redis-dr-controller" && install.controllerReplicas !== undefined)
      spec.replicas = install.controllerReplicas;
    for (const container of spec.template.spec.containers) {
      const extra = Object.entries(install.env ?? {}).map(([name, value]) => ({ name, value }));
      container.env = [...(container.env ?? []), ...extra];
    }
  }
  return kept.map((object) => YAML.stringify(object)).join("---\n");
}

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** The control plane's binaries, built (or found in the cache) by hack/k8s/build.sh. */
export function controlPlaneBinaries(): string {
  const result = spawnSync("bash", [join(REPO_ROOT, "hack/k8s/build.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const dir = result.stdout.trim().split("\n").at(-1) ?? "";
  if (result.status !== 0 || !existsSync(join(dir, "kube-apiserver")))
    throw new Error(
      "hack/k8s/build.sh did not provide the control plane's binaries; run it outside the network namespace " +
        "first (a cold build downloads Go modules)",
    );
  return dir;
}

export class RealCluster {
  readonly plane: ControlPlane;
  readonly dir: string;
  readonly binaries: string;
  // Made once the control plane runs (they need its PKI and its admin kubeconfig).
  network!: ServiceNetwork;
  readonly agents: NodeAgent[] = [];
  private provisioner: Provisioner | undefined;
  /** A plain-JSON client of the API server as the admin user. */
  admin!: JsonClient;
  private stopping: Promise<void> | undefined;
  /** The manifests as applied (kustomize's output with the harness's changes). */
  private rendered = "";
  private certManager: CertManagerStandIn | undefined;
  private readonly logger: Logger;

  private constructor(private readonly options: RealClusterOptions) {
    this.logger = options.logger ?? pino({ level: "silent" });
    this.binaries = controlPlaneBinaries();
    this.dir = options.dir ?? mkdtempSync(join("/var/tmp", `redis-dr-real-${options.range}-`));
    mkdirSync(this.dir, { recursive: true });
    this.plane = new ControlPlane({
      dir: this.dir,
      range: options.range,
      binaries: this.binaries,
      logger: this.logger.child({ component: "control-plane" }),
      ...(options.disabledControllers ? { disabledControllers: options.disabledControllers } : {}),
    });
  }

  static async start(options: RealClusterOptions): Promise<RealCluster> {
    const cluster = new RealCluster(options);
    try {
      await cluster.boot();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get kubeconfigPath(): string {
    return this.plane.adminKubeconfigPath;
  }

  get kubeConfig(): KubeConfig {
    return this.plane.adminKubeConfig();
  }

  /** The built kubectl (same version as the server) as the admin user. */
  async kubectl(args: string[], input?: string): Promise<CommandResult> {
    const child = run(join(this.binaries, "kubectl"), ["--kubeconfig", this.kubeconfigPath, ...args], {
      maxBuffer: 64 << 20,
      timeout: 120_000,
    });
    if (input !== undefined) child.child.stdin?.end(input);
    return child.then(
      ({ stdout, stderr }) => ({ status: 0, stdout, stderr }),
      (error: { code?: unknown; stdout?: string; stderr?: string }) => ({
        status: typeof error.code === "number" ? error.code : 1,
        stdout: error.stdout ?? "",
        stderr: error.stderr ?? String(error),
      }),
    );
  }

  /** kubectl that must succeed; returns its stdout. */
  async kubectlOk(args: string[], input?: string): Promise<string> {
    const result = await this.kubectl(args, input);
    if (result.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${result.stderr}`);
    return result.stdout;
  }

  private async boot(): Promise<void> {
    const started = Date.now();
    await this.plane.start();
    this.admin = new JsonClient(this.plane.adminKubeConfig());
    this.network = new ServiceNetwork({
      client: this.admin,
      range: this.options.range,
      logger: this.logger.child({ component: "service-network" }),
    });
    await this.network.start();
    this.provisioner = new Provisioner(
      this.admin,
      join(this.dir, "pvcs"),
      this.logger.child({ component: "provisioner" }),
    );
    await this.provisioner.start();
    const runtimeFiles = podRuntimeFiles();
    const nodes = this.options.nodes ?? [{ name: `node-${this.options.range}` }];
    if (nodes.length > this.plane.addresses.maxNodes)
      throw new Error(`at most ${this.plane.addresses.maxNodes} nodes per cluster, not ${nodes.length}`);
    const files = { ...runtimeFiles, ...(this.options.operator ? { appDir: productImageDir() } : {}) };
    for (const [index, node] of nodes.entries()) {
      const agent = new NodeAgent({
        plane: this.plane,
        nodeName: node.name,
        index,
        ...(node.labels ? { labels: node.labels } : {}),
        dir: this.dir,
        files,
        hostsFiles: this.network,
        probePeriodCapSeconds: this.options.probePeriodCapSeconds ?? 1,
        logger: this.logger.child({ component: "node-agent", node: node.name }),
      });
      this.agents.push(agent);
      await agent.start();
    }
    // The ServiceAccount controller has made `default` (pods are refused without it).
    await this.waitFor(
      "the default ServiceAccount",
      async () => (await this.admin.find("/api/v1/namespaces/default/serviceaccounts/default")) !== undefined,
    );
    // The API server puts the not-ready taint on a new Node; the node lifecycle controller lifts it once the
    // agent reports Ready. Until then the scheduler places nothing there.
    for (const agent of this.agents) {
      await this.waitFor(`node ${agent.nodeName} schedulable`, async () => {
        const node = await this.admin.find(`/api/v1/nodes/${agent.nodeName}`);
        const taints = ((node?.spec as { taints?: { key: string }[] } | undefined)?.taints ?? []).map(
          (t) => t.key,
        );
        return node !== undefined && !taints.includes("node.kubernetes.io/not-ready");
      });
    }
    this.logger.info({ ms: Date.now() - started }, "real cluster ready");
    if (this.options.operator) await this.installOperator();
  }

  /** cert-manager's and prometheus-operator's CRDs, the stand-in, then redis-dr from manifests/. */
  async installOperator(): Promise<void> {
    const started = Date.now();
    for (const file of await upstreamCrdFiles()) await this.kubectlOk(["apply", "--server-side", "-f", file]);
    await this.kubectlOk(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
    this.certManager = await startCertManagerStandIn({
      kubeconfig: this.kubeConfig,
      logger: this.logger.child({ component: "cert-manager" }),
    });
    const rendered = await this.kubectlOk(["kustomize", join(REPO_ROOT, "manifests")]);
    const install = this.options.install ?? {};
    this.rendered = adjustManifests(rendered, install);
    await this.kubectlOk(["apply", "--server-side", "-f", "-"], this.rendered);
    for (const deployment of OPERATOR_DEPLOYMENTS) {
      if (deployment === "redis-dr-controller" && install.controllerReplicas === 0) continue;
      await this.kubectlOk([
        "rollout",
        "status",
        `deployment/${deployment}`,
        "-n",
        OPERATOR_NAMESPACE,
        "--timeout=180s",
      ]);
    }
    this.logger.info({ ms: Date.now() - started }, "redis-dr installed from manifests/");
  }

  /** The pod runner (kubelet) of the node a pod runs on, or undefined when it runs nowhere. */
  kubeletOf(name: string, namespace = "default"): Kubelet | undefined {
    return this.agents.find((agent) => agent.kubelet.podIp(namespace, name) !== undefined)?.kubelet;
  }

  /**
   * Applies the rendered manifests' webhook configurations again (after a test deleted them) and waits for
   * the cert-manager stand-in to inject the CA.
   */
  async applyWebhookConfigurations(): Promise<void> {
    const configurations = YAML.parseAllDocuments(this.rendered)
      .map((document) => document.toJS() as KubeObject)
      .filter((object) => /^(Validating|Mutating)WebhookConfiguration$/.test(String(object.kind)));
    for (const object of configurations) {
      await this.kubectlOk(
        ["apply", "--server-side", "--force-conflicts", "-f", "-"],
        JSON.stringify(object),
      );
      const kind = String(object.kind).toLowerCase();
      await this.waitFor(`the CA injected into ${object.metadata.name}`, async () => {
        const bundle = await this.kubectlOk([
          "get",
          kind,
          object.metadata.name ?? "",
          "-o",
          "jsonpath={.webhooks[*].clientConfig.caBundle}",
        ]);
        return bundle.trim() !== "";
      });
    }
  }

  /** A pod of the cluster as the API has it. */
  async pod(name: string, namespace = "default"): Promise<KubeObject | undefined> {
    return this.admin.find(`/api/v1/namespaces/${namespace}/pods/${name}`);
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    const attempt = async (what: string, step: () => Promise<void> | void) => {
      try {
        await step();
      } catch (error) {
        this.logger.warn({ err: error }, `stopping ${what} failed`);
      }
    };
    await attempt("cert-manager", () => this.certManager?.stop());
    for (const agent of this.agents) await attempt(`node agent ${agent.nodeName}`, () => agent.stop());
    await attempt("the provisioner", () => this.provisioner?.stop());
    await attempt("the Service network", () => this.network?.stop());
    await attempt("the control plane", () => this.plane.stop());
    if (this.options.dir === undefined && this.options.keepDir !== true)
      await attempt("removing the state directory", () => rmSync(this.dir, { recursive: true, force: true }));
  }

  private async waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
