/**
 * Reads the passwords the cluster needs. The cluster's own Secret missing blocks everything (its pods cannot
 * start either); the source's Secret missing only stops the controller from touching the replication link
 * — a promotion during an outage must still work.
 */
import { X509Certificate } from "node:crypto";
import { setCondition, findCondition } from "../../status/conditions.ts";
import type { ReconcileContext, Step, StepResult } from "../context.ts";
import { CONTINUE, requeue } from "../context.ts";
import { readyCondition } from "../decisions/conditions.ts";
import { decideIntent } from "../decisions/intent.ts";

const RETRY_MS = 10_000;

function fingerprintOf(pem: string): string | undefined {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return undefined;
  }
}

export const resolveSecrets: Step = {
  name: "resolve-secrets",
  async run(ctx: ReconcileContext): Promise<StepResult> {
    const spec = ctx.cluster.spec;
    ctx.intent = decideIntent(spec, ctx.cluster.status);
    const problems: string[] = [];
    if (spec.authSecret !== undefined) {
      const own = await ctx.deps.api.secretPassword(ctx.namespace, spec.authSecret.name);
      if (own.kind === "found") ctx.clusterPassword = own.value;
      else {
        ctx.clusterAuthMissing = `${own.reason} (spec.authSecret): the cluster's pods cannot start or be administered`;
        problems.push(ctx.clusterAuthMissing);
      }
    }
    if (spec.tlsSecret !== undefined) {
      const [ca, cert] = await Promise.all([
        ctx.deps.api.secretValue(ctx.namespace, spec.tlsSecret.name, "ca.crt"),
        ctx.deps.api.secretValue(ctx.namespace, spec.tlsSecret.name, "tls.crt"),
      ]);
      if (ca.kind === "found") ctx.tlsCa = ca.value;
      else {
        ctx.clusterAuthMissing = `${ca.reason} (spec.tlsSecret): the cluster's pods cannot start or be administered`;
        problems.push(ctx.clusterAuthMissing);
      }
      if (cert.kind === "found") ctx.tlsCertificateFingerprint = fingerprintOf(cert.value);
    }
    const sourceSecret = spec.replicaMode?.source?.authSecretName;
    if (sourceSecret !== undefined && ctx.intent.kind !== "standalone" && ctx.intent.kind !== "sentinel") {
      const source = await ctx.deps.api.secretPassword(ctx.namespace, sourceSecret);
      if (source.kind === "found") ctx.sourcePassword = source.value;
      else {
        ctx.sourceAuthMissing = true;
        problems.push(
          `${source.reason} (spec.replicaMode.source.authSecretName): the replication link is left as it is`,
        );
      }
    }
    const condition =
      problems.length === 0
        ? {
            type: "SecretsAvailable",
            status: "True" as const,
            reason: "Found",
            message: "Every referenced Secret is readable",
          }
        : {
            type: "SecretsAvailable",
            status: "False" as const,
            reason: "SecretMissing",
            message: problems.join("; "),
          };
    const previous = findCondition(ctx.status().conditions, "SecretsAvailable");
    if (previous?.status !== condition.status || previous.message !== condition.message) {
      const now = ctx.deps.now();
      const generation = ctx.cluster.metadata?.generation;
      // Without its own Secret the reconcile stops here, before report-status: Ready says so now.
      const blocker = ctx.clusterAuthMissing;
      const ready =
        blocker === undefined
          ? undefined
          : readyCondition({ instances: 0, readyInstances: 0, primaryWritable: undefined, blocker });
      await ctx.commit((s) => {
        const conditions = setCondition(s.conditions, condition, generation, now);
        return {
          ...s,
          conditions: ready === undefined ? conditions : setCondition(conditions, ready, generation, now),
        };
      });
      if (condition.status === "False") await ctx.event("Warning", "SecretMissing", condition.message);
      else if (previous !== undefined) await ctx.event("Normal", "SecretsAvailable", condition.message);
    }
    return ctx.clusterAuthMissing === undefined ? CONTINUE : requeue(RETRY_MS);
  },
};
