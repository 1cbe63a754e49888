/**
 * E2e tests on either back end: `startTestCluster(options)` starts the embedded sandbox, or — with
 * `E2E_BACKEND=real` (hack/k8s/test.sh sets it) — a real cluster with redis-dr installed from manifests/,
 * and answers with the same TestCluster interface (hack/sandbox/testing.ts), so one scenario file runs on
 * both. A test that passes on one back end and fails on the other shows a bug in the embedded one (or a
 * difference the real one makes visible).
 *
 * On the real back end the webhook and the controller are pods of their Deployments (2 replicas each, the
 * controller with leader election), so "the controller" is whichever replica leads: killController signals
 * every replica (the kubelet restarts them, as in a cluster), stopController scales the Deployment to 0 and
 * startController back to its manifest's 2.
 */
import { ALLOW_SOURCE_CIDRS_ENV } from "../../webhook/config.ts";
import type { Logger } from "pino";
import { startSandbox, waitFor, type TestCluster } from "../sandbox/testing.ts";
import { OPERATOR_NAMESPACE, RealCluster } from "./cluster.ts";
import { join } from "node:path";

export type Backend = "sandbox" | "real";

export interface TestClusterOptions {
  /** The back end (default: e2eBackend(), from E2E_BACKEND). */
  backend?: Backend;
  /** Second octet of the cluster's addresses (127.R/16 on the sandbox, 10.R/16 on the real one). */
  range: number;
  webhook?: boolean;
  controller?: boolean;
  /** Extra environment for the webhook and the controller. */
  operatorEnv?: Record<string, string>;
  logger?: Logger;
}

/** The back end this test run uses: `E2E_BACKEND` (sandbox, the default, or real). */
export function e2eBackend(): Backend {
  const backend = process.env["E2E_BACKEND"] ?? "sandbox";
  if (backend !== "sandbox" && backend !== "real")
    throw new Error(`E2E_BACKEND must be sandbox or real, not ${backend}`);
  return backend;
}

export async function startTestCluster(options: TestClusterOptions): Promise<TestCluster> {
  if ((options.backend ?? e2eBackend()) === "sandbox") {
    return startSandbox({
      range: options.range,
      webhook: options.webhook ?? false,
      controller: options.controller ?? false,
      ...(options.operatorEnv ? { operatorEnv: options.operatorEnv } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }
  return startRealTestCluster(options);
}

const CONTROLLER = "redis-dr-controller";
const WEBHOOK = "redis-dr-webhook";
const WEBHOOK_REPLICAS = 2;
const REGION_NODES = ["us-east-1", "us-west-2"];
const CONTROLLER_REPLICAS = 2;

export async function startRealTestCluster(options: TestClusterOptions): Promise<TestCluster> {
  const operator = (options.webhook ?? false) || (options.controller ?? false);
  const cluster = await RealCluster.start({
    range: options.range,
    // Two regions' nodes, for the reference's manifests that select a region (cross-region example).
    nodes: REGION_NODES.map((region, index) => ({
      name: `node-${options.range}-${index}`,
      labels: { "topology.kubernetes.io/region": region },
    })),
    operator,
    install: {
      webhookConfigurations: options.webhook ?? false,
      controllerReplicas: (options.controller ?? false) ? CONTROLLER_REPLICAS : 0,
      // The scenarios' sources and region links listen on 127.x addresses of the test's network namespace,
      // where the pods reach them: the webhook must admit those hosts.
      env: { [ALLOW_SOURCE_CIDRS_ENV]: "127.0.0.0/8", ...options.operatorEnv },
    },
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const { network, admin } = cluster;
  const kubeletOf = (namespace: string, name: string) => {
    const kubelet = cluster.kubeletOf(name, namespace);
    if (!kubelet) throw new Error(`pod ${namespace}/${name} is not running on any node`);
    return kubelet;
  };

  const controllerPods = async (): Promise<string[]> => {
    const list = await admin.list(
      `/api/v1/namespaces/${OPERATOR_NAMESPACE}/pods?labelSelector=${encodeURIComponent(`app.kubernetes.io/name=${CONTROLLER}`)}`,
    );
    return list.items.filter((pod) => !pod.metadata.deletionTimestamp).map((pod) => pod.metadata.name ?? "");
  };
  const webhookPods = `app.kubernetes.io/name=${WEBHOOK}`;
  const scaleController = async (replicas: number) => {
    await cluster.kubectlOk([
      "scale",
      `deployment/${CONTROLLER}`,
      "-n",
      OPERATOR_NAMESPACE,
      `--replicas=${replicas}`,
    ]);
    if (replicas > 0) {
      await cluster.kubectlOk([
        "rollout",
        "status",
        `deployment/${CONTROLLER}`,
        "-n",
        OPERATOR_NAMESPACE,
        "--timeout=180s",
      ]);
    } else {
      await waitFor(async () => (await controllerPods()).length === 0, {
        what: "the controller's pods gone",
        timeoutMs: 60_000,
        intervalMs: 200,
      });
    }
  };

  return {
    backend: "real",
    kubeconfigPath: cluster.kubeconfigPath,
    kubeConfig: cluster.kubeConfig,
    kubectlBinary: join(cluster.binaries, "kubectl"),
    range: options.range,
    dir: cluster.dir,
    podIP: (name, namespace = "default") => cluster.kubeletOf(name, namespace)?.podIp(namespace, name),
    waitForPodReady: (name, namespace = "default", timeoutMs = 60_000) =>
      waitFor(
        async () => {
          const pod = await cluster.pod(name, namespace);
          const conditions = (pod?.status as { conditions?: { type: string; status: string }[] } | undefined)
            ?.conditions;
          const ready = conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
          return pod && !pod.metadata.deletionTimestamp && ready
            ? cluster.kubeletOf(name, namespace)?.podIp(namespace, name)
            : undefined;
        },
        { timeoutMs, intervalMs: 100, what: `pod ${namespace}/${name} to be Ready` },
      ),
    killPod: (name, namespace = "default", signal = "SIGKILL") =>
      kubeletOf(namespace, name).signalPod(namespace, name, signal),
    pausePod: (name, namespace = "default") =>
      kubeletOf(namespace, name).signalPod(namespace, name, "SIGSTOP"),
    resumePod: (name, namespace = "default") =>
      kubeletOf(namespace, name).signalPod(namespace, name, "SIGCONT"),
    exec: (name, namespace, argv) => kubeletOf(namespace, name).exec(namespace, name, argv),
    resolve: (dnsName, fromNamespace) => network.resolve(dnsName, fromNamespace),
    addHost: (name, ip) => network.addHost(name, ip),
    loadBalancerIP: (service, namespace = "default") => network.loadBalancerIpOf(namespace, service),
    startController: () => scaleController(CONTROLLER_REPLICAS),
    stopController: () => scaleController(0),
    killController: (signal = "SIGKILL") => {
      void controllerPods().then((pods) => {
        for (const pod of pods)
          cluster.kubeletOf(pod, OPERATOR_NAMESPACE)?.signalPod(OPERATOR_NAMESPACE, pod, signal);
      });
    },
    restartController: async () => {
      await cluster.kubectlOk([
        "wait",
        "--for=condition=Ready",
        "pod",
        "-l",
        `app.kubernetes.io/name=${CONTROLLER}`,
        "-n",
        OPERATOR_NAMESPACE,
        "--timeout=120s",
      ]);
    },
    stopWebhook: async () => {
      await cluster.kubectlOk(["scale", `deployment/${WEBHOOK}`, "-n", OPERATOR_NAMESPACE, "--replicas=0"]);
      await waitFor(
        async () =>
          (
            await admin.list(
              `/api/v1/namespaces/${OPERATOR_NAMESPACE}/pods?labelSelector=${encodeURIComponent(webhookPods)}`,
            )
          ).items.length === 0,
        { what: "the webhook's pods gone", timeoutMs: 60_000, intervalMs: 200 },
      );
    },
    startWebhook: async () => {
      await cluster.kubectlOk([
        "scale",
        `deployment/${WEBHOOK}`,
        "-n",
        OPERATOR_NAMESPACE,
        `--replicas=${WEBHOOK_REPLICAS}`,
      ]);
      await cluster.kubectlOk([
        "rollout",
        "status",
        `deployment/${WEBHOOK}`,
        "-n",
        OPERATOR_NAMESPACE,
        "--timeout=180s",
      ]);
      await cluster.applyWebhookConfigurations();
    },
    pauseApiServer: () => cluster.plane.signal("kube-apiserver", "SIGSTOP"),
    resumeApiServer: () => cluster.plane.signal("kube-apiserver", "SIGCONT"),
    controllerMetricsUrl: async () => {
      // The leader holds the controller's Lease; its metrics port is the Deployment's 8080.
      const lease = await admin.get(
        `/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NAMESPACE}/leases/${CONTROLLER}`,
      );
      const holder = String((lease.spec as { holderIdentity?: unknown } | undefined)?.holderIdentity ?? "");
      const ip = cluster.kubeletOf(holder, OPERATOR_NAMESPACE)?.podIp(OPERATOR_NAMESPACE, holder);
      if (ip === undefined) throw new Error(`the controller's leader ${holder || "(none)"} is not running`);
      return `http://${ip}:8080/metrics`;
    },
    stop: () => cluster.stop(),
  };
}
