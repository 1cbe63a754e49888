/**
 * Real kubectl against a sandbox, the way a user runs it: the demo prints each command before running it,
 * and tests assert on what kubectl prints. Input (manifests, Secrets) goes through stdin, never argv.
 */
import { spawn } from "node:child_process";
import YAML from "yaml";
import { KUBECTL } from "../sandbox/testing.ts";

export interface KubectlRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** How a person would type the command: arguments with spaces or JSON single-quoted. */
export function displayCommand(args: readonly string[]): string {
  return ["kubectl", ...args]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}

export class Kubectl {
  constructor(
    readonly kubeconfigPath: string,
    /** The kubectl binary: the one on PATH, or the real control plane's own build (TestCluster.kubectlBinary). */
    readonly binary = KUBECTL,
  ) {}

  run(args: readonly string[], input = ""): Promise<KubectlRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, ["--kubeconfig", this.kubeconfigPath, ...args], {
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input);
    });
  }

  /** Runs and fails unless kubectl exits 0; resolves with the whole run (warnings are on stderr). */
  async ok(args: readonly string[], input = ""): Promise<KubectlRun> {
    const run = await this.run(args, input);
    if (run.code !== 0)
      throw new Error(`${displayCommand(args)} failed (exit ${run.code}): ${run.stderr.trim()}`);
    return run;
  }

  /** Runs and fails unless kubectl exits non-zero; resolves with what it printed on stderr. */
  async refused(args: readonly string[], input = ""): Promise<string> {
    const run = await this.run(args, input);
    if (run.code === 0) throw new Error(`${displayCommand(args)} was accepted: ${run.stdout.trim()}`);
    return run.stderr;
  }

  /** `kubectl apply -f -` of objects given as values, sent as a YAML stream. */
  apply(objects: readonly unknown[], extra: readonly string[] = []): Promise<KubectlRun> {
    return this.ok(["apply", ...extra, "-f", "-"], objects.map((o) => YAML.stringify(o)).join("---\n"));
  }

  /**
   * A Secret with key `password`, applied from stdin so the value never appears in a command line.
   * (`kubectl create` sends core objects as protobuf, which the sandbox's API server does not decode.)
   */
  applyPasswordSecret(namespace: string, name: string, password: string): Promise<KubectlRun> {
    return this.apply([
      { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, stringData: { password } },
    ]);
  }

  applyNamespace(name: string): Promise<KubectlRun> {
    return this.apply([{ apiVersion: "v1", kind: "Namespace", metadata: { name } }]);
  }
}
