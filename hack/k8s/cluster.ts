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
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import pino, { type Logger } from "pino";
import type { KubeObject } from "../sandbox/api/types.ts";
import { prepareRuntimeFiles } from "../sandbox/kubelet/runtime.ts";
import { REPO_ROOT } from "../sandbox/sandbox.ts";
import { startCertManagerStandIn, type CertManagerStandIn } from "./cert-manager.ts";
import { ControlPlane } from "./control-plane.ts";
import { productImageDir } from "./image.ts";
import { JsonClient } from "./json-client.ts";
import { NodeAgent } from "./node-agent.ts";
import { Provisioner } from "./provisioner.ts";
import { ServiceNetwork } from "./service-network.ts";
import { upstreamCrdFiles } from "./upstream-crds.ts";

const run = promisify(execFile);

export const OPERATOR_NAMESPACE = "redis-dr-system";

export interface RealClusterOptions {
  /** Second octet of the cluster's addresses (10.R.0.0/16); clusters running at once need different ones. */
  range: number;
  /** The node's name (default `node-<range>`). */
  name?: string;
  /** State directory (default a new one under /var/tmp). */
  dir?: string;
  logger?: Logger;
  /** Install redis-dr from manifests/ (webhook and controller as pods). */
  operator?: boolean;
  probePeriodCapSeconds?: number;
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
  agent!: NodeAgent;
  private provisioner: Provisioner | undefined;
  private admin!: JsonClient;
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
    const runtimeFiles = prepareRuntimeFiles(
      join("/var/tmp", "redis-dr-sandbox-runtime"),
      join(REPO_ROOT, "hack/sandbox/kubelet/podnet.c"),
    );
    this.agent = new NodeAgent({
      plane: this.plane,
      nodeName: this.options.name ?? `node-${this.options.range}`,
      dir: this.dir,
      files: { ...runtimeFiles, ...(this.options.operator ? { appDir: productImageDir() } : {}) },
      hostsFiles: this.network,
      probePeriodCapSeconds: this.options.probePeriodCapSeconds ?? 1,
      logger: this.logger.child({ component: "node-agent" }),
    });
    await this.agent.start();
    // The ServiceAccount controller has made `default` (pods are refused without it).
    await this.waitFor(
      "the default ServiceAccount",
      async () => (await this.admin.find("/api/v1/namespaces/default/serviceaccounts/default")) !== undefined,
    );
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
    await this.kubectlOk(["apply", "--server-side", "-f", "-"], rendered);
    for (const deployment of ["redis-dr-webhook", "redis-dr-controller"]) {
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

  /** A pod of the cluster as the API has it. */
  async pod(name: string, namespace = "default"): Promise<KubeObject | undefined> {
    return this.admin.find(`/api/v1/namespaces/${namespace}/pods/${name}`);
  }

  async stop(): Promise<void> {
    const attempt = async (what: string, step: () => Promise<void> | void) => {
      try {
        await step();
      } catch (error) {
        this.logger.warn({ err: error }, `stopping ${what} failed`);
      }
    };
    await attempt("cert-manager", () => this.certManager?.stop());
    await attempt("the node agent", () => this.agent?.stop());
    await attempt("the provisioner", () => this.provisioner?.stop());
    await attempt("the Service network", () => this.network?.stop());
    await attempt("the control plane", () => this.plane.stop());
  }

  private async waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
