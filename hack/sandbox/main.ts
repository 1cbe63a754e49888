/**
 * `npm run sandbox`: a local Kubernetes-style cluster for trying redis-dr without a cluster.
 * Starts the API server, the pod runner and the service network, installs the CRD, starts the webhook and
 * the controller (when they exist; not with --no-operator) with the webhook configurations and a generated
 * CA injected as caBundle, writes a kubeconfig, prints one line when ready, and stops every process on
 * SIGINT/SIGTERM.
 *
 *   npm run sandbox -- [--kubeconfig PATH] [--no-operator] [--range N] [--log-level info]
 *   npm run sandbox -- --control-plane real [...]   the same on a real control plane (hack/k8s/local-cluster.ts)
 */
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { runLocalCluster } from "../k8s/local-cluster.ts";
import { REPO_ROOT, Sandbox } from "./sandbox.ts";

const { values } = parseArgs({
  options: {
    kubeconfig: { type: "string", default: join(REPO_ROOT, ".sandbox/kubeconfig") },
    "no-operator": { type: "boolean", default: false },
    range: { type: "string", default: "10" },
    "log-level": { type: "string", default: "info" },
    "control-plane": { type: "string", default: "sandbox" },
  },
});

const kubeconfigPath = resolve(values.kubeconfig);
const logDir = join(REPO_ROOT, ".sandbox");
mkdirSync(logDir, { recursive: true });
const logFile = join(logDir, "sandbox.log");
const logger = pino({ level: values["log-level"] }, pino.destination({ dest: logFile, sync: true }));
const operator = !values["no-operator"];

if (values["control-plane"] === "real") {
  process.exit(
    await runLocalCluster({ range: Number(values.range), kubeconfigPath, operator, logger, logFile }),
  );
} else if (values["control-plane"] !== "sandbox") {
  process.stderr.write(`--control-plane must be sandbox or real, not ${values["control-plane"]}\n`);
  process.exit(2);
}

let sandbox: Sandbox | undefined;
let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "stopping the sandbox");
  try {
    await sandbox?.stop();
    process.exit(0);
  } catch (error) {
    logger.error({ err: error }, "errors while stopping");
    process.exit(1);
  }
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
// `npm run` does not pass SIGTERM on to its child: when our parent goes away, stop as if signalled.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) void shutdown("parent exited");
}, 500).unref();

try {
  sandbox = await Sandbox.start({
    range: Number(values.range),
    kubeconfigPath,
    webhook: operator && existsSync(join(REPO_ROOT, "webhook/main.ts")),
    controller: operator && existsSync(join(REPO_ROOT, "controller/main.ts")),
    logger,
  });
} catch (error) {
  logger.error({ err: error }, "the sandbox did not start");
  process.stderr.write(`sandbox failed to start: ${(error as Error).message} (log: ${logFile})\n`);
  process.exit(1);
}
const started = [
  sandbox.webhook ? "webhook" : undefined,
  sandbox.controller ? "controller" : undefined,
].filter(Boolean);
process.stdout.write(
  `sandbox ready: export KUBECONFIG=${kubeconfigPath} (API ${sandbox.apiUrl}, pods in 127.${sandbox.range}.0.0/16, ` +
    `${started.length > 0 ? `running ${started.join(" and ")}` : "no operator"}; logs in ${logFile} and ${join(sandbox.dir, "logs")})\n`,
);
