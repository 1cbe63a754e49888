/** With tlsSecret: pods serving an older certificate than the Secret's reload their TLS files. */
import { reloadCertificates } from "../../replication/certificates.ts";
import type { ReconcileContext, Step, StepResult } from "../context.ts";
import { CONTINUE } from "../context.ts";
import { replicationContext } from "./replicate.ts";

export const reloadCertificatesStep: Step = {
  name: "reload-certificates",
  async run(ctx: ReconcileContext): Promise<StepResult> {
    if (ctx.tlsCertificateFingerprint === undefined) return CONTINUE;
    const reloaded = await reloadCertificates(replicationContext(ctx));
    if (reloaded.length > 0) {
      await ctx.event(
        "Normal",
        "CertificateReloaded",
        `${reloaded.join(", ")} reloaded the certificate of Secret ${ctx.cluster.spec.tlsSecret?.name ?? ""}`,
      );
    }
    return CONTINUE;
  },
};
