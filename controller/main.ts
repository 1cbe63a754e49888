/**
 * redis-dr controller entry point:
 *   npm run controller -- [--namespace NS] [--metrics-port 8080] [--leader-elect]
 * Kubernetes access from KUBECONFIG or the in-cluster service account, through the keep-alive KubeConfig the
 * webhook uses too (client-node alone opens a new TLS connection per API call).
 * Serves /metrics and /healthz on the metrics port.
 */
import http from "node:http";
import { pino } from "pino";
import { parseConfig } from "./config.ts";
import { Controller } from "./controller.ts";
import { ControllerMetrics } from "./metrics/metrics.ts";
import { ioredisAdminFactory } from "./redis/ioredis-admin.ts";
import { LeaderElector } from "./watch/leader-election.ts";
import { loadKubeConfig } from "../kube-common/kube-config.ts";
import { registerProcessMemory } from "../kube-common/process-metrics.ts";

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2), process.env);
  const log = pino({
    level: config.logLevel,
    base: { component: "redis-dr-controller" },
    // Defence in depth: nothing should log these, and if something does, pino blanks them.
    redact: {
      paths: ["password", "*.password", "masterauth", "*.masterauth", "requirepass", "*.data"],
      censor: "[redacted]",
    },
  });
  const kubeConfig = loadKubeConfig();
  const metrics = new ControllerMetrics();
  registerProcessMemory(metrics.registry);
  let healthy = true;

  const server = http.createServer((req, res) => {
    if (req.url === "/metrics") {
      metrics.registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { "Content-Type": metrics.registry.contentType });
          res.end(body);
        })
        .catch((error: unknown) => {
          log.error({ err: error }, "metrics rendering failed");
          res.writeHead(500).end();
        });
      return;
    }
    if (req.url === "/healthz") {
      res
        .writeHead(healthy ? 200 : 503, { "Content-Type": "text/plain" })
        .end(healthy ? "ok\n" : "unhealthy\n");
      return;
    }
    res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
  });
  await new Promise<void>((resolve) => server.listen(config.metricsPort, config.metricsHost, resolve));
  const address = server.address();
  log.info(
    {
      metricsPort: typeof address === "object" && address !== null ? address.port : config.metricsPort,
      namespace: config.namespace ?? "(all)",
    },
    "controller listening",
  );

  const controller = new Controller({
    kubeConfig,
    namespace: config.namespace,
    redis: ioredisAdminFactory(),
    metrics,
    log,
    resyncMs: config.resyncSeconds * 1000,
    secretRefreshMs: config.secretRefreshSeconds * 1000,
    workers: config.workers,
    backlogHorizonThresholdSeconds: config.backlogHorizonThresholdSeconds,
  });

  let elector: LeaderElector | undefined;
  let stopping = false;
  // Graceful: running reconciles finish first. The Lease is renewed meanwhile (a promotion reconcile can
  // take tens of seconds), and given up only once this process has stopped acting.
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    healthy = false;
    await controller
      .stop()
      .catch((error: unknown) => log.error({ err: error }, "stopping the controller failed"));
    await elector?.release();
    server.close();
    kubeConfig.close();
    log.info("controller stopped");
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown(0));
  process.on("SIGINT", () => void shutdown(0));

  if (config.leaderElect) {
    elector = new LeaderElector(
      kubeConfig,
      {
        namespace: config.leaseNamespace,
        name: "redis-dr-controller",
        identity: config.identity,
        leaseDurationSeconds: config.leaseDurationSeconds,
        renewDeadlineMs: config.renewDeadlineSeconds * 1000,
        renewEveryMs: config.retryPeriodSeconds * 1000,
      },
      log,
    );
    const leading = await elector.campaign((reason) => {
      // Not a graceful shutdown: waiting for running reconciles would let them act after another
      // candidate took over. Exiting stops every Redis command and API call of this process at once.
      log.fatal({ reason }, "lost the leader Lease; exiting at once so that a single controller acts");
      process.exit(1);
    });
    if (!leading || stopping) return;
  }
  controller.start();
  log.info("controller started");
}

main().catch((error: unknown) => {
  console.error("controller failed to start:", error instanceof Error ? error.message : error);
  process.exit(1);
});
