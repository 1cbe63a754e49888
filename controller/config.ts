/**
 * Command-line configuration: `[--namespace NS] [--metrics-port 8080] [--leader-elect]
 * [--backlog-horizon-threshold 300]`, plus a few environment variables for what operators rarely change. The leader election timings take seconds, with
 * client-go's defaults and flag names (`--leader-elect-lease-duration 15` etc.).
 */
import { hostname } from "node:os";
import { parseArgs } from "node:util";

/**
 * Reconciles run at once. A reconcile mostly waits on the API server and Redis (one round trip for the
 * Secrets, one status patch after a restart): on the scale bench (1000 clusters) restart to all reconciled
 * took a median 3.1 s at 16, against 6.0 s at 4 before the Secret reads were made concurrent and shared.
 */
export const DEFAULT_WORKERS = 16;

export interface ControllerConfig {
  /** Watch only this namespace; all namespaces when undefined. */
  readonly namespace: string | undefined;
  readonly metricsPort: number;
  readonly metricsHost: string;
  readonly leaderElect: boolean;
  /** Where the Lease lives. */
  readonly leaseNamespace: string;
  readonly identity: string;
  /** Leader election: how long a Lease holds unrenewed; when the leader gives up; time between attempts. */
  readonly leaseDurationSeconds: number;
  readonly renewDeadlineSeconds: number;
  readonly retryPeriodSeconds: number;
  readonly resyncSeconds: number;
  /** How long a Secret read is used before it is read again (rotation and deletion are seen that late). */
  readonly secretRefreshSeconds: number;
  readonly workers: number;
  /** Below this backlog horizon (seconds) the controller recommends a larger repl-backlog-size. */
  readonly backlogHorizonThresholdSeconds: number;
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
      "leader-elect-lease-duration": { type: "string", default: "15" },
      "leader-elect-renew-deadline": { type: "string", default: "10" },
      "leader-elect-retry-period": { type: "string", default: "2" },
      "resync-seconds": { type: "string", default: env["RESYNC_SECONDS"] ?? "5" },
      "secret-refresh-seconds": { type: "string", default: env["SECRET_REFRESH_SECONDS"] ?? "60" },
      workers: { type: "string", default: String(DEFAULT_WORKERS) },
      "backlog-horizon-threshold": { type: "string", default: "300" },
    },
    strict: true,
  });
  const metricsPort = Number(values["metrics-port"]);
  if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) {
    throw new Error(`--metrics-port must be a port number, got ${values["metrics-port"]}`);
  }
  const resyncSeconds = Number(values["resync-seconds"]);
  if (!(resyncSeconds > 0)) throw new Error("--resync-seconds must be positive");
  const leaseDurationSeconds = seconds(values, "leader-elect-lease-duration");
  const renewDeadlineSeconds = seconds(values, "leader-elect-renew-deadline");
  const retryPeriodSeconds = seconds(values, "leader-elect-retry-period");
  // The leader must give up before the Lease expires for the others, and try more than once before that.
  if (!(retryPeriodSeconds < renewDeadlineSeconds && renewDeadlineSeconds < leaseDurationSeconds)) {
    throw new Error(
      "leader election needs --leader-elect-retry-period < --leader-elect-renew-deadline < " +
        `--leader-elect-lease-duration, got ${retryPeriodSeconds} s, ${renewDeadlineSeconds} s, ${leaseDurationSeconds} s`,
    );
  }
  return {
    namespace: values.namespace,
    metricsPort,
    metricsHost: values["metrics-host"] ?? "0.0.0.0",
    leaderElect: values["leader-elect"] ?? false,
    leaseNamespace: values["lease-namespace"] ?? values.namespace ?? env["POD_NAMESPACE"] ?? "default",
    identity: env["POD_NAME"] ?? `${hostname()}-${process.pid}`,
    leaseDurationSeconds,
    renewDeadlineSeconds,
    retryPeriodSeconds,
    resyncSeconds,
    secretRefreshSeconds: seconds(values, "secret-refresh-seconds"),
    workers: Math.max(1, Number(values.workers) || DEFAULT_WORKERS),
    backlogHorizonThresholdSeconds: seconds(values, "backlog-horizon-threshold"),
    logLevel: env["LOG_LEVEL"] ?? "info",
  };
}

/** A positive number of seconds, written `10` or `10s`. */
function seconds(values: Record<string, string | boolean | undefined>, flag: string): number {
  const text = String(values[flag]);
  const value = Number(text.replace(/s$/, ""));
  if (!(value > 0) || text.trim() === "")
    throw new Error(`--${flag} must be a positive number of seconds, got ${text}`);
  return value;
}
