/**
 * Asking every pod and the source what they are doing. Failures are data, not exceptions: an unreachable
 * pod or a source that refuses the password is something to report.
 */
import type { InstanceSnapshot, RedisEndpoint, RedisFailureKind } from "../redis/admin-port.ts";
import { RedisAdminError } from "../redis/admin-port.ts";
import type { SourceRef } from "../reconcile/decisions/intent.ts";
import type { ObservedPod, PodEndpoint } from "../reconcile/decisions/pods.ts";
import type { ReplicationContext } from "./context.ts";

export interface SourceObservation {
  readonly offset?: number;
  /** What the source says about itself, when it answered. */
  readonly snapshot?: InstanceSnapshot;
  readonly failure?: { readonly kind: RedisFailureKind; readonly message: string };
}

const tlsOf = (ctx: ReplicationContext) => (ctx.tlsCa === undefined ? undefined : { ca: ctx.tlsCa });

export const podEndpoint = (ctx: ReplicationContext, pod: PodEndpoint) => ({
  host: pod.host,
  port: pod.port,
  password: ctx.clusterPassword,
  tls: tlsOf(ctx),
});

export async function observePod(ctx: ReplicationContext, pod: PodEndpoint): Promise<ObservedPod> {
  const endpoint = podEndpoint(ctx, pod);
  try {
    const snapshot = await ctx.redis.get(endpoint).snapshot();
    // A pod loading its dataset answers INFO but refuses most commands: treat it as not there yet.
    if (snapshot.persistence.loading) return { ...pod, error: `${pod.name} is loading its dataset` };
    return { ...pod, snapshot };
  } catch (error) {
    // A fresh connection next time: the pod may have restarted, or refused us.
    await ctx.redis.forget(endpoint);
    return { ...pod, error: error instanceof Error ? error.message : String(error) };
  }
}

export const observePods = (ctx: ReplicationContext): Promise<ObservedPod[]> =>
  Promise.all(ctx.pods.map((pod) => observePod(ctx, pod)));

export const sourceEndpoint = (ctx: ReplicationContext, source: SourceRef): RedisEndpoint => ({
  host: source.host,
  port: source.port,
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
