/**
 * Runs the webhook: the HTTPS admission server (TLS 1.2+, certificate swapped in on rotation without
 * dropping connections) and the plain-HTTP health/metrics server, with a graceful stop.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { createAdmissionApp } from "./app.ts";
import { createHealthApp } from "./health.ts";
import { CertificateWatcher, ClientCaWatcher, type KeyPair } from "./certificates.ts";
import { mutateCluster, validateCluster } from "../admission/admit.ts";
import type { SecretAccessReviewer, SecretReader } from "../validation/secrets.ts";
import type { AllowedSourceRanges } from "../validation/rules/source-address.ts";
import { createMetrics } from "../metrics.ts";
import { validateStructure } from "../validation/structural.ts";

export interface ServeOptions {
  readonly certDir: string;
  readonly host: string;
  /** HTTPS admission port; 0 picks a free one. */
  readonly port: number;
  /** Plain-HTTP health and metrics port; 0 picks a free one. */
  readonly healthPort: number;
  /** How often the certificate files are checked for changes. */
  readonly certPollMs: number;
  /** How long a stop waits for requests in flight before closing their connections. */
  readonly shutdownGraceMs: number;
  readonly secrets: SecretReader;
  readonly access: SecretAccessReviewer;
  readonly allowedSourceRanges?: AllowedSourceRanges;
  /**
   * Verify clients' certificates (the API server's, where it is configured to present one): only those the CA
   * bundle in `caFile` signed complete the handshake, and with `names`, only those common names are answered.
   */
  readonly clientAuth?: { readonly caFile: string; readonly names: readonly string[] };
  readonly logger: Logger;
  readonly registry: Registry;
}

export interface RunningWebhook {
  readonly healthPort: number;
  /** Resolves with the HTTPS port once a certificate is loaded and the server listens. */
  readonly ready: Promise<number>;
  stop(): Promise<void>;
}

const TLS_MIN_VERSION = "TLSv1.2";

const secureContextOptions = (pair: KeyPair) => ({ ...pair, minVersion: TLS_MIN_VERSION }) as const;

/**
 * The admission server's timeouts. The API server calls webhooks over keep-alive connections and keeps an
 * idle one 90 s (Go's http.DefaultTransport IdleConnTimeout, applied by k8s.io/apimachinery's
 * SetTransportDefaults): an idle connection must outlive that here, or the API server sends its next
 * request on a connection this server already closed and gets a reset. A client that stalls mid-request
 * is still cut off (Node requires headersTimeout ≤ requestTimeout; neither applies to idle connections).
 */
export const ADMISSION_SERVER_TIMEOUTS = {
  keepAliveTimeout: 120_000,
  headersTimeout: 10_000,
  requestTimeout: 30_000,
} as const;

function listen(server: HttpServer | HttpsServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting, lets requests in flight finish, then closes what is left after the grace period. */
function close(server: HttpServer | HttpsServer, graceMs: number): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    // A keep-alive connection becomes idle once its request is answered: close it then, not at its timeout.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export async function serve(options: ServeOptions): Promise<RunningWebhook> {
  const { logger } = options;
  const metrics = createMetrics(options.registry);
  // Compile the schema validator now, not during the first admission request (which has a timeout).
  validateStructure({});
  const certificates = new CertificateWatcher(options.certDir, options.certPollMs, logger);
  const admissionApp = createAdmissionApp({
    mutate: mutateCluster,
    validate: validateCluster({
      secrets: options.secrets,
      access: options.access,
      ...(options.allowedSourceRanges ? { allowedSourceRanges: options.allowedSourceRanges } : {}),
    }),
    logger,
    metrics,
    ...(options.clientAuth ? { clientNames: options.clientAuth.names } : {}),
  });
  const clientCa = options.clientAuth
    ? new ClientCaWatcher(options.clientAuth.caFile, options.certPollMs, logger)
    : undefined;
  let admissionListening = false;
  const healthServer = createHttpServer(
    createHealthApp({
      // Ready means admission requests can be answered: a certificate is loaded and the HTTPS port listens.
      admissionReady: () => admissionListening && certificates.keyPair !== undefined,
      registry: options.registry,
    }),
  );
  const healthPort = await listen(healthServer, options.healthPort, options.host);
  logger.info({ port: healthPort, host: options.host }, "health and metrics server listening");

  let httpsServer: HttpsServer | undefined;
  let stopping = false;
  const ready = certificates.start().then(async (pair) => {
    await clientCa?.start();
    if (stopping) throw new Error("stopped before the admission server started");
    const contextOf = (keyPair: KeyPair) => ({
      ...secureContextOptions(keyPair),
      ...(clientCa?.bundle ? { ca: clientCa.bundle } : {}),
    });
    const server = createHttpsServer(
      {
        ...contextOf(pair),
        ...ADMISSION_SERVER_TIMEOUTS,
        ...(clientCa ? { requestCert: true, rejectUnauthorized: true } : {}),
      },
      admissionApp,
    );
    httpsServer = server;
    // New handshakes use the new certificate (or client CA); established connections keep theirs.
    certificates.onChange((next) => server.setSecureContext(contextOf(next)));
    clientCa?.onChange(() => {
      if (certificates.keyPair) server.setSecureContext(contextOf(certificates.keyPair));
    });
    server.on("tlsClientError", (err) => logger.debug({ err }, "TLS handshake failed"));
    const port = await listen(server, options.port, options.host);
    admissionListening = true;
    logger.info({ port, host: options.host }, "admission server listening (HTTPS)");
    return port;
  });
  // A stop before the certificate arrived rejects `ready`; that is not an error worth a crash.
  ready.catch((err: unknown) => logger.debug({ err }, "admission server did not start"));

  return {
    healthPort,
    ready,
    async stop() {
      stopping = true;
      certificates.stop();
      clientCa?.stop();
      await Promise.all([
        httpsServer ? close(httpsServer, options.shutdownGraceMs) : Promise.resolve(),
        close(healthServer, options.shutdownGraceMs),
      ]);
      logger.info("webhook stopped");
    },
  };
}
