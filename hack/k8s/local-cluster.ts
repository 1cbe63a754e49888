/**
 * `npm run sandbox -- --control-plane real`: a real local cluster (hack/k8s/cluster.ts) with redis-dr
 * installed from manifests/, for trying the product with the machine's kubectl. The cluster lives in a
 * network namespace of its own; the machine reaches its API server on 127.0.0.1:<port>, bridged through a
 * Unix socket (hack/k8s/netns.ts). Runs until SIGINT/SIGTERM, then stops every process it started.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import YAML from "yaml";
import { freePort, REPO_ROOT } from "../sandbox/sandbox.ts";
import { RealCluster } from "./cluster.ts";
import { inPrivateNetworkNamespace, runInsideNetns, serveBridge } from "./netns.ts";

export interface LocalClusterOptions {
  range: number;
  kubeconfigPath: string;
  operator: boolean;
  logger: Logger;
  logFile: string;
}

const BRIDGE_PORT = "REDIS_DR_BRIDGE_PORT";

/** Outside the namespace: runs this command again inside one, with the API server bridged out. */
export async function runLocalCluster(options: LocalClusterOptions): Promise<number> {
  if (inPrivateNetworkNamespace()) return serveLocalCluster(options);
  const port = await freePort();
  process.env[BRIDGE_PORT] = String(port);
  return runInsideNetns({ host: "127.0.0.1", port, socket: bridgeSocket(options.range) });
}

const bridgeSocket = (range: number) => join(REPO_ROOT, ".sandbox", `real-${range}-apiserver.sock`);

async function serveLocalCluster(options: LocalClusterOptions): Promise<number> {
  const { logger } = options;
  let cluster: RealCluster | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping the real cluster");
    await cluster?.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  try {
    cluster = await RealCluster.start({ range: options.range, operator: options.operator, logger });
  } catch (error) {
    logger.error({ err: error }, "the real cluster did not start");
    process.stderr.write(
      `real cluster failed to start: ${(error as Error).message} (log: ${options.logFile})\n`,
    );
    return 1;
  }
  const port = Number(process.env[BRIDGE_PORT]);
  serveBridge(bridgeSocket(options.range), { host: cluster.plane.addresses.apiServer, port: 6443 });
  // The admin kubeconfig, pointed at the bridge (the API server's certificate names 127.0.0.1).
  const kubeconfig = YAML.parse(readFileSync(cluster.kubeconfigPath, "utf8")) as {
    clusters: { cluster: { server: string } }[];
  };
  for (const entry of kubeconfig.clusters) entry.cluster.server = `https://127.0.0.1:${port}`;
  writeFileSync(options.kubeconfigPath, YAML.stringify(kubeconfig), { mode: 0o600 });
  process.stdout.write(
    `real cluster ready: export KUBECONFIG=${options.kubeconfigPath} (kube-apiserver v1.37.2 at 127.0.0.1:${port}, ` +
      `pods in 10.${options.range}.0.0/16 inside its network namespace, ` +
      `${options.operator ? "redis-dr installed from manifests/" : "no operator"}; use kubectl ${join(cluster.binaries, "kubectl")}; ` +
      `logs in ${options.logFile} and ${join(cluster.dir, "logs")})\n`,
  );
  return new Promise<number>(() => undefined);
}
