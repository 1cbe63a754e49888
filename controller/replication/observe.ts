/**
 * Asking every pod and the source what they are doing. Failures are data, not exceptions: an unreachable
 * pod or a source that refuses the password is something to report.
 */
import { SENTINEL_PORT } from "../kube/resources.ts";
import type { InstanceSnapshot, RedisEndpoint, RedisFailureKind } from "../redis/admin-port.ts";
import { RedisAdminError } from "../redis/admin-port.ts";
import { ADMIN_RULES, ADMIN_USER, podUserRules } from "../redis/users.ts";
import type { SourceRef } from "../model/intent.ts";
import type { ObservedPod, PodEndpoint } from "../model/pods.ts";
import type { ReplicationContext } from "./context.ts";

export interface SourceObservation {
  readonly offset?: number;
  /** What the source says about itself, when it answered. */
  readonly snapshot?: InstanceSnapshot;
  readonly failure?: { readonly kind: RedisFailureKind; readonly message: string };
}

const tlsOf = (ctx: ReplicationContext) => (ctx.tlsCa === undefined ? undefined : { ca: ctx.tlsCa });

/** How the controller logs in to a pod: as ADMIN_USER (redis/users.ts), else as `default` (older pods). */
export const podEndpoint = (ctx: ReplicationContext, pod: PodEndpoint): RedisEndpoint =>
  ctx.users === undefined
    ? { host: pod.host, port: pod.port, password: ctx.clusterPassword, tls: tlsOf(ctx) }
    : { host: pod.host, port: pod.port, username: ADMIN_USER, password: ctx.users.admin, tls: tlsOf(ctx) };

async function observePod(ctx: ReplicationContext, pod: PodEndpoint): Promise<ObservedPod> {
  const endpoint = podEndpoint(ctx, pod);
  try {
    return await snapshotOf(ctx, pod, endpoint);
  } catch (error) {
    // A fresh connection next time: the pod may have restarted, or refused us.
    await ctx.redis.forget(endpoint);
    if (error instanceof RedisAdminError && error.kind === "auth" && (await adoptOlderPod(ctx, pod))) {
      try {
        return await snapshotOf(ctx, pod, endpoint);
      } catch (retryError) {
        await ctx.redis.forget(endpoint);
        return { ...pod, error: retryError instanceof Error ? retryError.message : String(retryError) };
      }
    }
    return { ...pod, error: error instanceof Error ? error.message : String(error) };
  }
}

async function snapshotOf(
  ctx: ReplicationContext,
  pod: PodEndpoint,
  endpoint: RedisEndpoint,
): Promise<ObservedPod> {
  const snapshot = await ctx.redis.get(endpoint).snapshot();
  // A pod loading its dataset answers INFO but refuses most commands: treat it as not there yet.
  if (snapshot.persistence.loading) return { ...pod, error: `${pod.name} is loading its dataset` };
  return { ...pod, snapshot };
}

/**
 * A pod started by an older controller's entrypoint knows no ACL user but `default`, which has every right
 * and the cluster's password there. The controller logs in that way once and creates the pod's users
 * (ACL SETUSER over the connection: no password in any argument or log), so it can administer the pod and
 * the others can replicate from it until the StatefulSet's rolling update restarts it with the new
 * entrypoint (which also takes the application's admin rights away). Also the pod's Sentinel, in Sentinel
 * mode: an older one has no password at all. Returns whether the pod now knows the users.
 */
async function adoptOlderPod(ctx: ReplicationContext, pod: PodEndpoint): Promise<boolean> {
  const users = ctx.users;
  if (users === undefined) return false;
  const legacy: RedisEndpoint = {
    host: pod.host,
    port: pod.port,
    password: ctx.clusterPassword,
    tls: tlsOf(ctx),
  };
  const admin = ctx.redis.get(legacy);
  try {
    for (const [username, rules] of podUserRules(users)) await admin.aclSetUser(username, rules);
  } catch {
    // Not an older pod (or not reachable that way either): the caller reports the first failure.
    return false;
  } finally {
    await ctx.redis.forget(legacy);
  }
  ctx.log.warn(
    { pod: pod.name },
    `the pod was started by an older redis-dr and did not know the user ${ADMIN_USER}: its ACL users were ` +
      "created over its default user; it applies the least-privilege rights when the StatefulSet's update restarts it",
  );
  if (ctx.sentinelMode) {
    const sentinel: RedisEndpoint = { host: pod.host, port: SENTINEL_PORT, tls: tlsOf(ctx) };
    try {
      await ctx.redis.get(sentinel).aclSetUser(ADMIN_USER, `reset on >${users.admin} ${ADMIN_RULES}`);
    } catch (error) {
      ctx.log.warn(
        { pod: pod.name, err: error },
        "could not create the admin user on the pod's older Sentinel",
      );
    } finally {
      await ctx.redis.forget(sentinel);
    }
  }
  return true;
}

export const observePods = (ctx: ReplicationContext): Promise<ObservedPod[]> =>
  Promise.all(ctx.pods.map((pod) => observePod(ctx, pod)));

export const sourceEndpoint = (ctx: ReplicationContext, source: SourceRef): RedisEndpoint => ({
  host: source.host,
  port: source.port,
  username: ctx.sourceUsername,
  password: ctx.sourcePassword,
  tls: ctx.tlsCa === undefined ? undefined : { ca: ctx.tlsCa, verifyHost: true },
});

export async function observeSource(ctx: ReplicationContext, source: SourceRef): Promise<SourceObservation> {
  // tls-replication makes the pods speak TLS to the source too, verified against the same CA. Redis checks
  // only the chain on that link; the controller checks that the certificate names the source's host.
  const endpoint = sourceEndpoint(ctx, source);
  try {
    const snapshot = await ctx.redis.get(endpoint).snapshot();
    return { offset: snapshot.replication.masterReplOffset, snapshot };
  } catch (error) {
    await ctx.redis.forget(endpoint);
    if (error instanceof RedisAdminError) {
      return { failure: { kind: error.kind, message: describeSourceFailure(error, source) } };
    }
    return { failure: { kind: "command", message: String(error) } };
  }
}

function describeSourceFailure(error: RedisAdminError, source: SourceRef): string {
  const where = `source ${source.clusterName} (${source.host}:${source.port})`;
  switch (error.kind) {
    case "auth":
      return (
        `${where} rejected the password from Secret ${source.authSecretName ?? "(none: no authSecretName set)"}: ` +
        "check that it matches the source's password"
      );
    case "unreachable":
      return `${where} is unreachable: ${error.message}`;
    case "tls-identity":
      return (
        `the TLS certificate of ${where} does not name ${source.host} (${error.message}): the pods are held ` +
        `off it. Issue the source's certificate with ${source.host} among its subjectAltNames, or set ` +
        "spec.replicaMode.source.host to a name it lists"
      );
    case "tls":
      return (
        `TLS with ${where} failed: ${error.message}. Its certificate must be valid and signed by a CA in ` +
        "ca.crt of spec.tlsSecret"
      );
    default:
      return `${where} answered with an error: ${error.message}`;
  }
}
