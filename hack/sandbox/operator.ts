/**
 * The operator's programs (webhook, controller) as child processes of the sandbox, run unchanged with a
 * KUBECONFIG pointing at the sandbox. Each runs in a private mount namespace whose /etc/hosts is the
 * sandbox's cluster DNS, and dies with the sandbox (parent-death signal) even if the sandbox crashes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import type { Logger } from "pino";

export interface OperatorProcessOptions {
  name: string;
  /** Arguments after `node` and `nodeArgs`, e.g. ["webhook/main.ts", "--port", "9443"]. */
  args: string[];
  /** Node's own options before `args` (default `["--import", "tsx"]`: run the TypeScript sources). */
  nodeArgs?: string[];
  cwd: string;
  env: Record<string, string>;
  hostsFile: string | undefined;
  logFile: string;
  logger: Logger;
}

export class OperatorProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly options: OperatorProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) return;
    const { hostsFile } = this.options;
    const node = [process.execPath, ...(this.options.nodeArgs ?? ["--import", "tsx"]), ...this.options.args];
    const argv = hostsFile
      ? [
          "--pdeathsig",
          "KILL",
          "--",
          "unshare",
          "--mount",
          "--propagation",
          "private",
          "--",
          "/bin/sh",
          "-c",
          'mount --bind "$0" /etc/hosts && exec "$@"',
          hostsFile,
          ...node,
        ]
      : ["--pdeathsig", "KILL", "--", ...node];
    const log = openSync(this.options.logFile, "a");
    const child = spawn("setpriv", argv, {
      cwd: this.options.cwd,
      env: { ...process.env, ...this.options.env },
      stdio: ["ignore", log, log],
      detached: true,
    });
    closeSync(log);
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    this.options.logger.info(
      { process: this.options.name, pid: child.pid, log: this.options.logFile },
      "started",
    );
  }

  /** Sends a signal to the process (SIGKILL to simulate a crash, SIGSTOP/SIGCONT to pause). */
  signal(signal: NodeJS.Signals): void {
    if (this.child?.pid) {
      try {
        process.kill(-this.child.pid, signal);
      } catch {
        // already gone
      }
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.signal("SIGTERM");
    this.signal("SIGCONT");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.stop();
    this.start();
  }
}
