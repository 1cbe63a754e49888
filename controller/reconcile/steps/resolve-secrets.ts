/**
 * Reads the passwords the cluster needs. The cluster's own Secret missing blocks everything (its pods cannot
 * start either); the source's Secret missing only stops the controller from touching the replication link
 * — a promotion during an outage must still work.
 */
import { X509Certificate, randomBytes } from "node:crypto";
import { KIND } from "../../../schemas/rediscluster.ts";
import type { RedisClusterStatus } from "../../../schemas/generated/rediscluster.ts";
import { apiErrorCode } from "../../kube/cluster-api.ts";
import { usersSecretFor } from "../../kube/resources.ts";
import type { ClusterUsers } from "../../redis/users.ts";
import {
  ADMIN_USER,
  REPLICATION_USER,
  SENTINEL_USER,
  generateUsers,
  usersFromSecretData,
  usersSecretName,
} from "../../redis/users.ts";
import { setCondition, findCondition } from "../../status/conditions.ts";
import type { ReconcileContext, Step, StepResult } from "../context.ts";
import { CONTINUE, requeue } from "../context.ts";
import { readyCondition } from "../../model/conditions.ts";
import { decideIntent } from "../../model/intent.ts";

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
    // A read Secret is used again for --secret-refresh-seconds, but not while the cluster is unwell: a
    // password being fixed (wrong password, link down) or a Secret being restored is seen on the next pass.
    if (await unwellForSecrets(ctx)) ctx.deps.api.forgetSecrets(ctx.namespace, referencedSecrets(ctx));
    const problems: string[] = [];
    const api = ctx.deps.api;
    const sourceSecret = spec.replicaMode?.source?.authSecretName;
    const readSource =
      sourceSecret !== undefined && ctx.intent.kind !== "standalone" && ctx.intent.kind !== "sentinel";
    // The Secrets are independent: read at once, so a reconcile waits one round trip for them, not four.
    const [users, own, tls, source] = await Promise.all([
      ensureUsersSecret(ctx),
      spec.authSecret === undefined ? undefined : api.secretPassword(ctx.namespace, spec.authSecret.name),
      spec.tlsSecret === undefined
        ? undefined
        : Promise.all([
            api.secretValue(ctx.namespace, spec.tlsSecret.name, "ca.crt"),
            api.secretValue(ctx.namespace, spec.tlsSecret.name, "tls.crt"),
          ]),
      readSource ? sourceCredentials(ctx, sourceSecret) : undefined,
    ]);
    if (typeof users === "string") {
      ctx.clusterAuthMissing = `${users}: the cluster's pods cannot start or be administered`;
      problems.push(ctx.clusterAuthMissing);
    } else ctx.users = users;
    if (own !== undefined) {
      if (own.kind === "found") ctx.clusterPassword = own.value;
      else {
        ctx.clusterAuthMissing = `${own.reason} (spec.authSecret): the cluster's pods cannot start or be administered`;
        problems.push(ctx.clusterAuthMissing);
      }
    }
    if (tls !== undefined) {
      const [ca, cert] = tls;
      if (ca.kind === "found") ctx.tlsCa = ca.value;
      else {
        ctx.clusterAuthMissing = `${ca.reason} (spec.tlsSecret): the cluster's pods cannot start or be administered`;
        problems.push(ctx.clusterAuthMissing);
      }
      if (cert.kind === "found") ctx.tlsCertificateFingerprint = fingerprintOf(cert.value);
    }
    if (source !== undefined) {
      if (source.kind === "found") {
        ctx.sourcePassword = source.password;
        ctx.sourceUsername = source.username;
      } else {
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

/** The source's password and optional ACL user (its `default` user without one), from one Secret. */
async function sourceCredentials(
  ctx: ReconcileContext,
  secret: string,
): Promise<
  | { readonly kind: "found"; readonly password: string; readonly username: string | undefined }
  | { readonly kind: "missing"; readonly reason: string }
> {
  const password = await ctx.deps.api.secretPassword(ctx.namespace, secret);
  if (password.kind !== "found") return password;
  // The same Secret: this second lookup uses the read just made.
  const username = await ctx.deps.api.secretValue(ctx.namespace, secret, "username");
  return {
    kind: "found",
    password: password.value,
    username: username.kind === "found" ? username.value : undefined,
  };
}

/**
 * A condition that a Secret could explain is False: SecretsAvailable, ReplicationHealthy (a source password
 * being fixed), or Ready — except Ready's PodsNotReady while the cluster has no pod at all. Pods that do not
 * exist (no node fits them, a quota, a StatefulSet controller that is down) are no Secret's doing, and reading
 * the Secrets afresh on every pass of every such cluster would cost the API server two GETs per cluster each
 * two seconds for as long as they wait.
 */
export function secretsMayExplain(conditions: RedisClusterStatus["conditions"], podCount: number): boolean {
  const unwell = (type: string) => findCondition(conditions, type)?.status === "False";
  if (unwell("SecretsAvailable") || unwell("ReplicationHealthy")) return true;
  if (!unwell("Ready")) return false;
  return findCondition(conditions, "Ready")?.reason !== "PodsNotReady" || podCount > 0;
}

async function unwellForSecrets(ctx: ReconcileContext): Promise<boolean> {
  const conditions = ctx.status().conditions;
  // The pods are counted (from the informer's cache) only when that is what decides.
  const counted = findCondition(conditions, "Ready")?.reason === "PodsNotReady";
  return secretsMayExplain(
    conditions,
    counted ? (await ctx.deps.api.listPods(ctx.namespace, ctx.name)).length : 0,
  );
}

function referencedSecrets(ctx: ReconcileContext): string[] {
  const spec = ctx.cluster.spec;
  return [
    usersSecretName(ctx.name),
    spec.authSecret?.name,
    spec.tlsSecret?.name,
    spec.replicaMode?.source?.authSecretName,
  ].filter((name): name is string => name !== undefined);
}

/**
 * The controller's users Secret (redis/users.ts): created with new passwords when missing, owned by the
 * RedisCluster. Returns the passwords, or why they cannot be used (a Secret of that name that this
 * RedisCluster does not own is never adopted: whoever made it would know the admin password).
 */
async function ensureUsersSecret(ctx: ReconcileContext): Promise<ClusterUsers | string> {
  const api = ctx.deps.api;
  const name = usersSecretName(ctx.name);
  let secret = await api.getSecret(ctx.namespace, name);
  if (secret === undefined) {
    const desired = usersSecretFor(ctx.cluster, generateUsers(randomBytes));
    try {
      await api.createSecret(ctx.namespace, desired);
      await ctx.event(
        "Normal",
        "UsersSecretCreated",
        `Created Secret ${name} with the passwords of the Redis users ${ADMIN_USER}, ${REPLICATION_USER} and ${SENTINEL_USER}`,
      );
      secret = desired;
    } catch (error) {
      // Another controller replica (or a previous attempt) created it meanwhile: use that one.
      if (apiErrorCode(error) !== 409) throw error;
      secret = await api.getSecret(ctx.namespace, name);
      if (secret === undefined) return `Secret ${name} could not be created or read`;
    }
  }
  const uid = ctx.cluster.metadata?.uid;
  const owned = (secret.metadata?.ownerReferences ?? []).some((r) => r.kind === KIND && r.uid === uid);
  if (!owned) return `Secret ${name} exists and is not owned by this RedisCluster: delete or rename it`;
  const users = usersFromSecretData(secret.data);
  return typeof users === "string" ? `Secret ${name}: ${users}` : users;
}
