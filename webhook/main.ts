/**
 * The redis-dr admission webhook: `npm run webhook -- --cert-dir DIR [--port 9443] [--health-port 8081]`.
 * Kubernetes access from KUBECONFIG, ~/.kube/config or the in-cluster service account (webhook/kube/credentials.ts).
 */
import { Registry } from "prom-client";
import { USAGE, parseConfig, type WebhookConfig } from "./config.ts";
import { createLogger } from "./logger.ts";
import { createKubeApiClient, type KubeApiClient } from "./kube/api-client.ts";
import { findCredentials } from "./kube/credentials.ts";
import { kubeSecretReader } from "./kube/secret-reader.ts";
import { kubeAccessReviewer } from "./kube/access-reviewer.ts";
import { AllowedSourceRanges } from "./validation/rules/source-address.ts";
import { serve } from "./server/serve.ts";
import { registerProcessMemory } from "../kube-common/process-metrics.ts";

let config: WebhookConfig;
try {
  config = parseConfig(process.argv.slice(2), process.env);
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}

const logger = createLogger(config.logLevel);
// Credentials it cannot use fail the start, not the first review that needs them.
let kube: KubeApiClient;
try {
  const credentials = findCredentials({ env: process.env });
  kube = createKubeApiClient(credentials, { logger: logger.child({ component: "kube-api" }) });
  logger.info({ server: kube.server, from: credentials.from }, "Kubernetes API");
} catch (err) {
  logger.fatal({ err }, "no usable Kubernetes credentials");
  process.exit(1);
}
// The webhook's own metrics and the process's memory (kube-common/process-metrics.ts): not prom-client's
// Node.js defaults, which include gauges named `*_total` that promtool check metrics rejects.
const registry = new Registry();
registerProcessMemory(registry);

process.on("uncaughtException", (err) => {
  logger.fatal({ err }, "uncaught exception");
  process.exit(1);
});
process.on("unhandledRejection", (err) => {
  logger.fatal({ err }, "unhandled rejection");
  process.exit(1);
});

const webhook = await serve({
  certDir: config.certDir,
  host: config.host,
  port: config.port,
  healthPort: config.healthPort,
  certPollMs: config.certPollMs,
  shutdownGraceMs: config.shutdownGraceMs,
  secrets: kubeSecretReader(kube, logger.child({ component: "secrets" })),
  access: kubeAccessReviewer(kube, logger.child({ component: "access-reviews" })),
  allowedSourceRanges: new AllowedSourceRanges(config.allowedSourceCidrs),
  ...(config.clientCaFile !== undefined
    ? { clientAuth: { caFile: config.clientCaFile, names: config.clientNames } }
    : {}),
  logger,
  registry,
});

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    webhook.stop().then(
      () => {
        kube.close();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, "error while stopping");
        process.exit(1);
      },
    );
  });
}

webhook.ready.then(
  (port) => {
    logger.info({ port, healthPort: webhook.healthPort }, "webhook ready");
    if (config.allowedSourceCidrs.length > 0) {
      logger.warn(
        { allowedSourceCidrs: config.allowedSourceCidrs },
        "source.host may be a loopback, link-local, unspecified or multicast address in these ranges",
      );
    }
  },
  (err: unknown) => {
    // Stopped before a certificate arrived: nothing to report. Otherwise the admission port could not be
    // opened (e.g. EADDRINUSE): a webhook that never answers must exit, so that it is restarted and seen.
    if (stopping) return;
    logger.fatal({ err }, "the admission server could not start");
    process.exit(1);
  },
);
