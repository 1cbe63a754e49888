/**
 * Command-line configuration: `[--namespace NS] [--metrics-port 8080] [--leader-elect]`, plus a few
 * environment variables for what operators rarely change.
 */
import { hostname } from "node:os";
import { parseArgs } from "node:util";

export interface ControllerConfig {
  /** Watch only this namespace; all namespaces when undefined. */
  readonly namespace: string | undefined;
  readonly metricsPort: number;
  readonly metricsHost: string;
  readonly leaderElect: boolean;
  /** Where the Lease lives. */
  readonly leaseNamespace: string;
  readonly identity: string;
  readonly resyncSeconds: number;
  readonly workers: number;
  readonly logLevel: string;
}

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ControllerConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      namespace: { type: "string" },
      "metrics-port": { type: "string", default: "8080" },
      "metrics-host": { type: "string", default: "0.0.0.0" },
      "leader-elect": { type: "boolean", default: false },
      "lease-namespace": { type: "string" },
      "resync-seconds": { type: "string", default: env["RESYNC_SECONDS"] ?? "5" },
      workers: { type: "string", default: "4" },
    },
    strict: true,
  });
  const metricsPort = Number(values["metrics-port"]);
  if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) {
    throw new Error(`--metrics-port must be a port number, got ${values["metrics-port"]}`);
  }
  const resyncSeconds = Number(values["resync-seconds"]);
  if (!(resyncSeconds > 0)) throw new Error("--resync-seconds must be positive");
  return {
    namespace: values.namespace,
    metricsPort,
    metricsHost: values["metrics-host"] ?? "0.0.0.0",
    leaderElect: values["leader-elect"] ?? false,
    leaseNamespace: values["lease-namespace"] ?? values.namespace ?? env["POD_NAMESPACE"] ?? "default",
    identity: env["POD_NAME"] ?? `${hostname()}-${process.pid}`,
    resyncSeconds,
    workers: Math.max(1, Number(values.workers) || 4),
    logLevel: env["LOG_LEVEL"] ?? "info",
  };
}
