/**
 * Benchmark-only preload, `node --import tsx --import ./hack/bench/lib/keep-alive-preload.ts controller/main.ts`:
 * every KubeConfig in the process then behaves like webhook/kube/kube-config.ts's KeepAliveKubeConfig (one
 * keep-alive agent instead of a new TLS connection per API call), so the scale benchmark measures what the
 * controller would cost with it, without changing controller/.
 */
import { KubeConfig, type RequestContext } from "@kubernetes/client-node";
import { KeepAliveKubeConfig } from "../../../webhook/kube/kube-config.ts";

const original = KubeConfig.prototype.applySecurityAuthentication;
const keepAlive = KeepAliveKubeConfig.prototype.applySecurityAuthentication;
// KeepAliveKubeConfig's method calls `super.applySecurityAuthentication`: give its prototype a parent that
// still has the original, so the patched KubeConfig method below does not call itself.
Object.setPrototypeOf(
  KeepAliveKubeConfig.prototype,
  Object.create(KubeConfig.prototype, { applySecurityAuthentication: { value: original } }),
);
KubeConfig.prototype.applySecurityAuthentication = function (
  this: KubeConfig,
  context: RequestContext,
): Promise<void> {
  return keepAlive.call(this, context);
};
