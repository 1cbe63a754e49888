/**
 * Where the webhook's Kubernetes API calls go and how they authenticate, found the way
 * `KubeConfig.loadFromDefault()` of @kubernetes/client-node finds them, for what a webhook meets: the first file
 * of `KUBECONFIG`, else `~/.kube/config`, else the in-cluster service account. A kubeconfig entry the client
 * cannot honour (exec, auth-provider, username/password, a proxy…) is an error here, at start, naming it —
 * never a silently unauthenticated call that fails a review later.
 */
import { existsSync, readFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import YAML from "yaml";
import { isRecord } from "../../kube-common/is-record.ts";

/** Bytes given in the kubeconfig (`…-data`, base64-decoded), or a file (read at start, re-read later). */
export type Material = { readonly data: Buffer } | { readonly file: string };

export interface KubeCredentials {
  /** The API server's base URL, `https://…` or `http://…`, without a trailing slash. */
  readonly server: string;
  /** Where these came from, for the start-up log: never a credential. */
  readonly from: string;
  /** The CA bundle the server's certificate must chain to (none: the system's roots). */
  readonly ca?: Material;
  readonly clientCertificate?: Material;
  readonly clientKey?: Material;
  readonly insecureSkipTlsVerify: boolean;
  /** The name the server's certificate is checked against, when not the server URL's host. */
  readonly tlsServerName?: string;
  /** A bearer token, given or in a file (a projected service-account token is rotated in place). */
  readonly token?: { readonly value: string } | { readonly file: string };
}

/** Credentials that cannot be used; the message names the file or field and never holds a credential. */
export class KubeCredentialsError extends Error {
  override readonly name = "KubeCredentialsError";
}

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface CredentialSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Default: `HOME`, else the user's home directory. */
  readonly home?: string;
  /** Default: SERVICE_ACCOUNT_DIR. */
  readonly serviceAccountDir?: string;
}

/** KUBECONFIG (its first file), else ~/.kube/config, else the in-cluster service account. */
export function findCredentials(sources: CredentialSources): KubeCredentials {
  const { env } = sources;
  const listed = (env.KUBECONFIG ?? "").split(delimiter).filter((file) => file !== "");
  const [first, ...rest] = listed;
  if (first !== undefined) {
    // client-node merges every listed file; the webhook reads the first only (said in the start-up log).
    const credentials = kubeconfigFile(first);
    if (rest.length === 0) return credentials;
    return {
      ...credentials,
      from: `${credentials.from}; KUBECONFIG's other files ignored: ${rest.join(", ")}`,
    };
  }
  const home = sources.home ?? (env.HOME || homedir());
  const defaultFile = join(home, ".kube", "config");
  if (existsSync(defaultFile)) return kubeconfigFile(defaultFile);
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host && port) return inClusterCredentials(host, port, sources.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  throw new KubeCredentialsError(
    `no Kubernetes credentials: KUBECONFIG is not set, ${defaultFile} does not exist, and ` +
      "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not in a pod)",
  );
}

/**
 * The pod's service account, as client-go's InClusterConfig: https to the `kubernetes` Service, the mounted CA,
 * and the projected token file (re-read by the client, as the kubelet rotates it).
 */
export function inClusterCredentials(host: string, port: string, dir: string): KubeCredentials {
  const token = join(dir, "token");
  const ca = join(dir, "ca.crt");
  for (const file of [token, ca]) {
    if (!existsSync(file)) {
      throw new KubeCredentialsError(
        `in a pod (KUBERNETES_SERVICE_HOST is set) but ${file} does not exist: is the service account token mounted?`,
      );
    }
  }
  return {
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    from: `in-cluster service account (${dir})`,
    ca: { file: ca },
    insecureSkipTlsVerify: false,
    token: { file: token },
  };
}

function kubeconfigFile(file: string): KubeCredentials {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new KubeCredentialsError(`cannot read kubeconfig ${file}: ${(error as Error).message}`);
  }
  return credentialsFromKubeconfig(text, resolve(file));
}

/** What the client honours of a kubeconfig's cluster and user; entries it may ignore (no effect on a call). */
const CLUSTER_FIELDS = [
  "server",
  "certificate-authority",
  "certificate-authority-data",
  "insecure-skip-tls-verify",
  "tls-server-name",
];
const CLUSTER_IGNORED = ["extensions", "disable-compression"];
const USER_FIELDS = [
  "token",
  "tokenFile",
  "client-certificate",
  "client-certificate-data",
  "client-key",
  "client-key-data",
];
const USER_IGNORED = ["extensions"];

/** The credentials of the current context of kubeconfig `text`, read from `file` (relative paths: its folder). */
export function credentialsFromKubeconfig(text: string, file: string): KubeCredentials {
  const fail = (why: string): never => {
    throw new KubeCredentialsError(`kubeconfig ${file}: ${why}`);
  };
  let config: unknown;
  try {
    config = YAML.parse(text);
  } catch (error) {
    fail(`not YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  if (!isRecord(config)) return fail("not a kubeconfig (no mapping at the top)");
  const contextName = config["current-context"];
  if (typeof contextName !== "string" || contextName === "") return fail("no current-context");

  const entry = (list: "contexts" | "clusters" | "users", name: string, field: string) => {
    const entries = config[list] ?? [];
    if (!Array.isArray(entries)) return fail(`${list} is not a list`);
    const found: unknown = entries.find((e: unknown) => isRecord(e) && e.name === name);
    if (found === undefined) return fail(`${list} has no entry named ${JSON.stringify(name)}`);
    const value = (found as Record<string, unknown>)[field] ?? {};
    if (!isRecord(value)) return fail(`${field} ${JSON.stringify(name)} is not a mapping`);
    return value;
  };
  const context = entry("contexts", contextName, "context");
  const clusterName = context.cluster;
  if (typeof clusterName !== "string" || clusterName === "") {
    return fail(`context ${JSON.stringify(contextName)} names no cluster`);
  }
  const cluster = entry("clusters", clusterName, "cluster");
  const userName = context.user;
  // A context without a user makes anonymous calls, as with client-go.
  const user = typeof userName === "string" && userName !== "" ? entry("users", userName, "user") : {};
  const clusterWhat = `cluster ${JSON.stringify(clusterName)}`;
  const userWhat = `user ${JSON.stringify(userName)}`;

  const refuseUnknown = (
    fields: Record<string, unknown>,
    what: string,
    supported: string[],
    ignored: string[],
  ) => {
    const unsupported = Object.keys(fields).filter(
      (key) =>
        !supported.includes(key) && !ignored.includes(key) && fields[key] !== null && fields[key] !== "",
    );
    if (unsupported.length > 0) {
      fail(
        `${what} uses ${unsupported.join(", ")}, which the webhook's API client does not support ` +
          `(it supports ${supported.join(", ")})`,
      );
    }
  };
  refuseUnknown(cluster, clusterWhat, CLUSTER_FIELDS, CLUSTER_IGNORED);
  refuseUnknown(user, userWhat, USER_FIELDS, USER_IGNORED);

  const stringField = (fields: Record<string, unknown>, key: string, what: string): string | undefined => {
    const value = fields[key];
    if (value === undefined || value === null || value === "") return undefined;
    if (typeof value !== "string") return fail(`${what}: ${key} is not a string`);
    return value;
  };
  const material = (fields: Record<string, unknown>, key: string, what: string): Material | undefined => {
    const path = stringField(fields, key, what);
    const data = stringField(fields, `${key}-data`, what);
    if (path !== undefined && data !== undefined) return fail(`${what} sets both ${key} and ${key}-data`);
    if (path !== undefined) return { file: resolve(dirname(file), path) };
    if (data === undefined) return undefined;
    const bytes = Buffer.from(data, "base64");
    if (bytes.length === 0) return fail(`${what}: ${key}-data is not base64`);
    return { data: bytes };
  };

  const serverText = stringField(cluster, "server", clusterWhat) ?? fail(`${clusterWhat} has no server`);
  let server: URL;
  try {
    server = new URL(serverText);
  } catch {
    return fail(`${clusterWhat}: server ${JSON.stringify(serverText)} is not a URL`);
  }
  if (server.protocol !== "https:" && server.protocol !== "http:") {
    return fail(`${clusterWhat}: server ${JSON.stringify(serverText)} is neither https nor http`);
  }
  const skip = cluster["insecure-skip-tls-verify"] ?? false;
  if (typeof skip !== "boolean") return fail(`${clusterWhat}: insecure-skip-tls-verify is not true or false`);
  const ca = material(cluster, "certificate-authority", clusterWhat);
  const tlsServerName = stringField(cluster, "tls-server-name", clusterWhat);

  const clientCertificate = material(user, "client-certificate", userWhat);
  const clientKey = material(user, "client-key", userWhat);
  if ((clientCertificate === undefined) !== (clientKey === undefined)) {
    return fail(`${userWhat} needs both a client certificate and its key, or neither`);
  }
  // As client-go: with both, the file wins and is re-read (the token is what it held once).
  const tokenFile = stringField(user, "tokenFile", userWhat);
  const tokenValue = stringField(user, "token", userWhat);
  const token =
    tokenFile !== undefined
      ? { file: resolve(dirname(file), tokenFile) }
      : tokenValue !== undefined
        ? { value: tokenValue }
        : undefined;

  return {
    server: server.href.replace(/\/+$/, ""),
    from: `kubeconfig ${file}, context ${JSON.stringify(contextName)}`,
    ...(ca !== undefined ? { ca } : {}),
    ...(clientCertificate !== undefined ? { clientCertificate } : {}),
    ...(clientKey !== undefined ? { clientKey } : {}),
    insecureSkipTlsVerify: skip,
    ...(tlsServerName !== undefined ? { tlsServerName } : {}),
    ...(token !== undefined ? { token } : {}),
  };
}
