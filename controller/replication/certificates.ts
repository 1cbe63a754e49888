/**
 * Certificate rotation. Redis reads its TLS files only at start-up and when a tls-* parameter is set — setting
 * it to the same path reloads the files. The kubelet rewrites a mounted Secret some time after it changed, so
 * the controller compares what each pod serves with the Secret's certificate and reloads until they match.
 */
import { TLS_FILES } from "../kube/tls-files.ts";
import type { ReplicationContext } from "./context.ts";
import { podEndpoint } from "./observe.ts";

/** Returns the pods that were told to reload. */
export async function reloadCertificates(ctx: ReplicationContext): Promise<string[]> {
  const expected = ctx.tlsCertificateFingerprint;
  if (expected === undefined) return [];
  const files = ctx.tlsFiles ?? TLS_FILES;
  const reloaded: string[] = [];
  for (const pod of ctx.pods) {
    const endpoint = podEndpoint(ctx, pod);
    try {
      const served = await ctx.redis.get(endpoint).serverCertificateFingerprint();
      if (served === undefined || served === expected) continue;
      const admin = ctx.redis.get(endpoint);
      await admin.configSet("tls-cert-file", files.cert);
      await admin.configSet("tls-key-file", files.key);
      await admin.configSet("tls-ca-cert-file", files.ca);
      // The next connection sees what the pod serves now.
      await ctx.redis.forget(endpoint);
      reloaded.push(pod.name);
    } catch (error) {
      ctx.log.warn({ pod: pod.name, err: error }, "could not check or reload the pod's certificate");
      await ctx.redis.forget(endpoint);
    }
  }
  return reloaded;
}
