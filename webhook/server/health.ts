/**
 * The plain-HTTP side port: liveness/readiness for the kubelet and metrics for Prometheus. Kept off the
 * HTTPS port so probes work before a certificate exists — and fail until one is loaded.
 */
import express from "express";
import type { Registry } from "prom-client";

export interface HealthDeps {
  /** True once a serving certificate is loaded and the HTTPS admission port listens. */
  readonly admissionReady: () => boolean;
  readonly registry: Registry;
}

export function createHealthApp(deps: HealthDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  const probe = (_req: express.Request, res: express.Response) => {
    if (deps.admissionReady()) res.type("text/plain").send("ok");
    else
      res
        .status(503)
        .type("text/plain")
        .send(
          "not serving admission requests yet (no certificate loaded, or the HTTPS port is not listening)",
        );
  };
  app.get("/healthz", probe);
  app.get("/readyz", probe);
  app.get("/metrics", async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });
  app.use((_req, res) => {
    res.status(404).type("text/plain").send("not found");
  });
  return app;
}
