/**
 * A KubeConfig whose API calls reuse their connections.
 *
 * @kubernetes/client-node 1.x builds a new https.Agent for every request (in applySecurityAuthentication), so
 * every API call pays a TCP and a TLS handshake — a few milliseconds each, on every admission that checks a
 * Secret and on every controller call. This subclass hands every request one keep-alive agent per TLS identity
 * (server CA, client certificate and key, verification setting), and builds a new one when those change
 * (a rotated client certificate). Bearer tokens travel in headers, so sharing the agent is safe.
 */
import { Agent, type AgentOptions, type RequestOptions } from "node:https";
import { KubeConfig, type RequestContext } from "@kubernetes/client-node";

type TlsMaterial = RequestOptions["ca"] | RequestOptions["cert"] | RequestOptions["key"];

const fingerprint = (value: TlsMaterial): string => {
  if (value === undefined) return "";
  const parts = Array.isArray(value) ? value : [value];
  return parts
    .map((part) => (typeof part === "string" ? part : Buffer.from(part as Buffer).toString("base64")))
    .join(",");
};

export class KeepAliveKubeConfig extends KubeConfig {
  private shared: { identity: string; agent: Agent } | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    if (!context.getUrl().startsWith("https:") || this.getCurrentCluster()?.proxyUrl) return;
    const options: RequestOptions = {};
    await this.applyToHTTPSOptions(options);
    const tls: AgentOptions = {
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      rejectUnauthorized: options.rejectUnauthorized,
      servername: options.servername,
    };
    const identity =
      [tls.ca, tls.cert, tls.key].map(fingerprint).join("|") + `|${tls.rejectUnauthorized}|${tls.servername}`;
    if (this.shared?.identity !== identity) {
      this.shared?.agent.destroy();
      this.shared = { identity, agent: new Agent({ ...tls, keepAlive: true }) };
    }
    context.setAgent(this.shared.agent);
  }

  /** Closes the pooled connections (on shutdown, so the process can exit promptly). */
  close(): void {
    this.shared?.agent.destroy();
    this.shared = undefined;
  }
}

/** KUBECONFIG, ~/.kube/config or the in-cluster service account, like `KubeConfig.loadFromDefault()`. */
export function loadKubeConfig(): KeepAliveKubeConfig {
  const config = new KeepAliveKubeConfig();
  config.loadFromDefault();
  return config;
}
