/**
 * Test helper: a whole sandbox (API server, kubelet with real Redis pods, Services/DNS, optionally the
 * operator's webhook and controller processes) per test file, in seconds, on free ports.
 *
 *   import { startSandbox } from "./testing.ts";
 *   const sb = await startSandbox({ range: 21 });          // 127.21.0.0/16; pick your own range
 *   after(() => sb.stop());                                 // always: kills every process it started
 *   const core = sb.kubeConfig.makeApiClient(CoreV1Api);   // real @kubernetes/client-node
 *   await waitFor(() => sb.podIP("redis-0"));               // poll until defined/true
 *
 * startSandbox(options) options (all optional; see SandboxOptions in sandbox.ts):
 *   range                 second octet of the loopback range: pods 127.R.1.x, ClusterIPs 127.R.200.x,
 *                         LoadBalancer IPs 127.R.250.x, API server 127.R.0.1. Two sandboxes running at the
 *                         same time must use different ranges (default 10).
 *   webhook / controller  start webhook/main.ts (and install the webhook configurations with the
 *                         sandbox CA as caBundle) / controller/main.ts as child processes.
 *   operatorEnv           extra environment for those processes. logger: a pino logger (default silent).
 *   operatorForm          "tsx" (default: the sources) or "shipped" (compiled as the image, plain node).
 *   crdFiles              CRDs to install (default manifests/crd/*.yaml). probePeriodCapSeconds (default 1).
 *   name                  the region's name (node name, kubeconfig context).
 *
 * Also exported: waitFor(check, { timeoutMs, what }), freePort(), createCa(dir), issueServingCertificate(ca,
 * dir, dnsNames, ips) (tls.crt/tls.key/ca.crt like cert-manager), and sandbox.ca (the sandbox CA, which signs
 * the API server's certificate: use sandbox.ca.certPem to call the API server over raw HTTPS).
 *
 * The returned TestSandbox:
 *   kubeconfigPath, kubeConfig (a client-node KubeConfig), apiUrl, range, dir, sandbox (the Sandbox itself)
 *   podIP(name, ns = "default")              status.podIP, or undefined
 *   waitForPodReady(name, ns?, timeoutMs?)   resolves with the podIP once the pod is Ready
 *   killPod(name, ns?, signal = "SIGKILL")   signals the pod's first container's PID 1 (a crash: the kubelet
 *                                            restarts the container, restartCount goes up, exit code 137)
 *   pausePod(name, ns?) / resumePod(...)     SIGSTOP / SIGCONT (a hung Redis: no answers, no crash)
 *   exec(name, ns, argv)                     runs a command inside the pod (its mounts, env, DNS)
 *   resolve(dnsName, fromNamespace?)         what a cluster DNS name resolves to
 *   addHost(name, ip)                        an external DNS name for pods and operator processes (e.g.
 *                                            another region's LoadBalancer IP as `redis-east.example.com`)
 *   loadBalancerIP(service, ns?)             the LoadBalancer ingress IP of a Service
 *   startController() / stopController() / killController(signal = "SIGKILL")   the controller process
 *                                            (start again after stop/kill; metrics on sandbox.controllerMetricsPort;
 *                                            sandbox.startControllerReplica(name) for more replicas;
 *                                            options.controllerArgs e.g. ["--leader-elect"])
 *   sandbox.startWebhook() / sandbox.installWebhookConfigurations() / sandbox.webhook (an OperatorProcess:
 *                                            stop(), start(), signal()) — to start the webhook after changing env
 *   sandbox.routeService(ns, name, {host, port})   sends webhook calls for that Service to a test server
 *   breakWatches()                           cuts every open watch connection
 *   failNextWatches(count, code = 500)       the next watch requests fail with that HTTP code
 *   compact()                                forgets the watch history: resuming watches get 410 Gone
 *   failNextRequests(matches, count, code)   the next matching requests get a 409/500/503/504 Status
 *   delayWatchEvents(ms)                     (sandbox only) every watch event arrives ms late, requests are
 *                                            answered at once: informer caches lag; 0 ends it
 *   pauseApiServer() / resumeApiServer()     the API server answers nothing meanwhile (requests and
 *                                            watch events wait)
 *   stop()                                   stops everything; safe to call twice
 *
 * Every pod process is started under a parent-death signal and in its own PID namespace, so nothing
 * outlives the test process even if it crashes before `stop()`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { Sandbox, type SandboxOptions } from "./sandbox.ts";

/** The kubectl on PATH (what `hack/dev.sh` checked), or the one `KUBECTL` names. */
export const KUBECTL = process.env.KUBECTL ?? "kubectl";

export { Sandbox, freePort, type SandboxOptions } from "./sandbox.ts";
export { createCa, issueServingCertificate, type CertificateAuthority } from "./certs.ts";

/**
 * What e2e tests use of a cluster, whichever back end runs it: the embedded sandbox (startSandbox) or the
 * real control plane (hack/k8s/testing.ts, startRealTestCluster). Tests written against this run on both.
 */
export interface TestCluster {
  readonly backend: "sandbox" | "real";
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  /** The kubectl to run against it (the real control plane's own build for the real back end). */
  readonly kubectlBinary: string;
  readonly range: number;
  readonly dir: string;
  podIP(name: string, namespace?: string): string | undefined;
  waitForPodReady(name: string, namespace?: string, timeoutMs?: number): Promise<string>;
  killPod(name: string, namespace?: string, signal?: NodeJS.Signals): void;
  pausePod(name: string, namespace?: string): void;
  resumePod(name: string, namespace?: string): void;
  exec(name: string, namespace: string, argv: string[]): Promise<{ code: number | null; output: string }>;
  resolve(dnsName: string, fromNamespace?: string): string | undefined;
  addHost(name: string, ip: string): void;
  loadBalancerIP(service: string, namespace?: string): string | undefined;
  startController(): Promise<void>;
  stopController(): Promise<void>;
  killController(signal?: NodeJS.Signals): void;
  /**
   * After killController: the controller running again. The sandbox starts its process again once the
   * killed one is gone; on a real cluster the kubelet restarts the killed replicas, and this waits for them.
   */
  restartController(): Promise<void>;
  /** The webhook down (its process stopped, or its Deployment scaled to 0); its configurations stay. */
  stopWebhook(): Promise<void>;
  /** The webhook up again, with both webhook configurations installed (they may have been deleted). */
  startWebhook(): Promise<void>;
  /** The URL of the (leading) controller's /metrics. */
  controllerMetricsUrl(): Promise<string>;
  /**
   * The API server stops answering, as when it hangs or its network is cut (the sandbox holds every request
   * and watch event; the real kube-apiserver gets SIGSTOP), until resumeApiServer().
   */
  pauseApiServer(): void;
  resumeApiServer(): void;
  stop(): Promise<void>;
}

/** A sandbox, with what only the embedded API server can do (break its watches, forget its history). */
export interface TestSandbox extends TestCluster {
  readonly backend: "sandbox";
  readonly sandbox: Sandbox;
  readonly apiUrl: string;
  breakWatches(): void;
  failNextWatches(count: number, code?: number): void;
  /** Every watch event arrives `ms` late (requests are answered at once); 0 ends it. */
  delayWatchEvents(ms: number): void;
  compact(): void;
  /** sandbox.api.failNextRequests: the next `count` matching requests answered with that error Status. */
  failNextRequests(
    matches: (method: string, path: string) => boolean,
    count: number,
    code: 409 | 500 | 503 | 504,
  ): { answered: () => number; done: Promise<void> };
}

/** Polls `check` until it returns something other than undefined/false/null; resolves with that value. */
export async function waitFor<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  {
    timeoutMs = 20_000,
    intervalMs = 50,
    what = "condition",
  }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs}ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

const isReady = (pod: { status?: unknown; metadata: unknown } | undefined): boolean => {
  const conditions = (pod?.status as { conditions?: { type: string; status: string }[] } | undefined)
    ?.conditions;
  return conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
};

export async function startSandbox(options: SandboxOptions = {}): Promise<TestSandbox> {
  const sandbox = await Sandbox.start(options);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(sandbox.kubeconfigPath);
  let stopped: Promise<void> | undefined;
  return {
    backend: "sandbox",
    sandbox,
    kubectlBinary: KUBECTL,
    kubeconfigPath: sandbox.kubeconfigPath,
    kubeConfig,
    apiUrl: sandbox.apiUrl,
    range: sandbox.range,
    dir: sandbox.dir,
    podIP: (name, namespace = "default") => sandbox.podIP(name, namespace),
    waitForPodReady: (name, namespace = "default", timeoutMs = 30_000) =>
      waitFor(
        () => {
          const pod = sandbox.core.store.get("/pods", namespace, name);
          return pod && !pod.metadata.deletionTimestamp && isReady(pod)
            ? sandbox.podIP(name, namespace)
            : undefined;
        },
        { timeoutMs, what: `pod ${namespace}/${name} to be Ready` },
      ),
    killPod: (name, namespace = "default", signal = "SIGKILL") =>
      sandbox.kubelet.signalPod(namespace, name, signal),
    pausePod: (name, namespace = "default") => sandbox.kubelet.signalPod(namespace, name, "SIGSTOP"),
    resumePod: (name, namespace = "default") => sandbox.kubelet.signalPod(namespace, name, "SIGCONT"),
    exec: (name, namespace, argv) => sandbox.kubelet.exec(namespace, name, argv),
    resolve: (dnsName, fromNamespace) => sandbox.resolve(dnsName, fromNamespace),
    addHost: (name, ip) => sandbox.addHost(name, ip),
    loadBalancerIP: (service, namespace = "default") => sandbox.loadBalancerIP(service, namespace),
    startController: async () => void (await sandbox.startController()),
    stopController: () => sandbox.stopController(),
    killController: (signal = "SIGKILL") => sandbox.controller?.signal(signal),
    restartController: async () => {
      await waitFor(() => sandbox.controller?.running === false, { what: "the controller gone" });
      await sandbox.startController();
    },
    stopWebhook: async () => {
      await sandbox.webhook?.stop();
    },
    startWebhook: async () => {
      await sandbox.startWebhook();
      await sandbox.installWebhookConfigurations();
    },
    controllerMetricsUrl: async () => {
      // Its port is the last one its log announced: it changes on restart.
      const log = readFileSync(join(sandbox.dir, "logs", "controller.log"), "utf8");
      const port = [...log.matchAll(/"metricsPort":(\d+)/g)].at(-1)?.[1];
      if (port === undefined) throw new Error("the controller has not announced its metrics port yet");
      return `http://127.0.0.1:${port}/metrics`;
    },
    breakWatches: () => sandbox.api.breakWatches(),
    failNextWatches: (count, code = 500) => sandbox.api.failNextWatches(count, code),
    delayWatchEvents: (ms) => sandbox.api.delayWatchEvents(ms),
    compact: () => sandbox.core.store.compact(),
    failNextRequests: (matches, count, code) => sandbox.api.failNextRequests(matches, count, code),
    pauseApiServer: () => sandbox.api.pause(),
    resumeApiServer: () => sandbox.api.resume(),
    // A process of the host: the kernel picks 127.0.0.1 as the source of its loopback connections.
    stop: () => (stopped ??= sandbox.stop()),
  };
}
