/**
 * The controller as the scale benchmarks run it: the shipped program (compiled, plain node with the Node
 * options of its Deployment, NODE_ENV=production: hack/k8s/image.ts), a child of the bench whose PID is the
 * controller's own (for CPU and RSS from /proc), watching one namespace.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { shippedProgram } from "../../k8s/image.ts";
import { freePort } from "../../sandbox/testing.ts";

const REPO = new URL("../../../", import.meta.url).pathname;

export class ControllerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private metricsPort = 0;

  constructor(
    private readonly options: {
      readonly kubeconfig: string;
      /** Its own namespace (POD_NAMESPACE: where its Lease and Events go). */
      readonly podNamespace: string;
      /** The namespace it watches (--namespace). */
      readonly namespace: string;
      readonly logFile: string;
      /** Node options after the Deployment's (e.g. `--cpu-prof`: a profile of each run, written as it stops). */
      readonly extraNodeArgs?: readonly string[];
    },
  ) {}

  get logFile(): string {
    return this.options.logFile;
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error("the controller is not running");
    return pid;
  }

  /**
   * Reconciles so far, from the controller's own counter (redis_dr_controller_reconcile_total, summed over
   * its labels): API requests no longer tell, since a reconcile reads its cluster from the informer's cache.
   */
  async reconciles(): Promise<number> {
    return metricSum(await this.scrape(), "redis_dr_controller_reconcile_total");
  }

  /**
   * The V8 heap and what lives outside it, in MiB, from the controller's process memory gauges
   * (kube-common/process-metrics.ts), all three from one scrape: what its RSS is made of.
   */
  async memory(): Promise<{ heapUsedMiB: number; heapTotalMiB: number; externalMiB: number }> {
    const text = await this.scrape();
    const mib = (name: string) => Math.round((metricSum(text, name) / 2 ** 20) * 10) / 10;
    return {
      heapUsedMiB: mib("nodejs_heap_size_used_bytes"),
      heapTotalMiB: mib("nodejs_heap_size_total_bytes"),
      externalMiB: mib("nodejs_external_memory_bytes"),
    };
  }

  private async scrape(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
  }

  async start(): Promise<void> {
    this.metricsPort = await freePort();
    const log = openSync(this.options.logFile, "a");
    const program = shippedProgram("controller");
    // setpriv execs node: the pid is the controller's own, and it dies with this process.
    const child = spawn(
      "setpriv",
      [
        "--pdeathsig",
        "KILL",
        "--",
        process.execPath,
        ...program.nodeArgs,
        ...(this.options.extraNodeArgs ?? []),
        program.main,
        "--namespace",
        this.options.namespace,
        "--metrics-port",
        String(this.metricsPort),
        "--metrics-host",
        "127.0.0.1",
      ],
      {
        cwd: REPO,
        env: {
          ...process.env,
          ...program.env,
          KUBECONFIG: this.options.kubeconfig,
          POD_NAMESPACE: this.options.podNamespace,
          LOG_LEVEL: "warn",
        },
        stdio: ["ignore", log, log],
      },
    );
    closeSync(log);
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A metric of a /metrics text, summed over its labels (0 when it has no series). */
function metricSum(text: string, name: string): number {
  let total = 0;
  for (const [, value] of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))) {
    total += Number(value);
  }
  return total;
}
