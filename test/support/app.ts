/** The admission request listener wired like serve() does, with a fake SecretReader and its own Registry. */
import { Registry } from "prom-client";
import { createAdmissionApp } from "../../webhook/server/app.ts";
import { mutateCluster, validateCluster } from "../../webhook/admission/admit.ts";
import { createMetrics } from "../../webhook/metrics.ts";
import { FakeAccess } from "./fake-access.ts";
import { FakeSecrets } from "./fake-secrets.ts";
import { captureLogs, type CapturedLogs } from "./logs.ts";

export function testApp(secrets = new FakeSecrets().with("default", "redis-password", ["password"])) {
  const registry = new Registry();
  const logs: CapturedLogs = captureLogs("info");
  const app = createAdmissionApp({
    mutate: mutateCluster,
    validate: validateCluster({ secrets, access: FakeAccess.allowingAll() }),
    logger: logs.logger,
    metrics: createMetrics(registry),
  });
  return { app, registry, logs, secrets };
}
