/**
 * Where the webhook's API client finds its credentials: each kubeconfig field it honours, each one it refuses
 * (at start, by name), relative paths, and the order KUBECONFIG → ~/.kube/config → in-cluster.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { after, before, describe, it } from "node:test";
import YAML from "yaml";
import {
  KubeCredentialsError,
  credentialsFromKubeconfig,
  findCredentials,
  type KubeCredentials,
} from "../../../webhook/kube/credentials.ts";

const FILE = "/etc/redis-dr/kubeconfig";

/** A kubeconfig whose current context uses cluster `c` and user `u` with these fields. */
function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown> = {}): string {
  return YAML.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "other", cluster: { server: "https://other.example:6443" } },
      { name: "c", cluster },
    ],
    users: [{ name: "u", user }],
    contexts: [{ name: "x", context: { cluster: "c", user: "u", namespace: "team-a" } }],
    "current-context": "x",
  });
}

const SERVER = { server: "https://10.0.0.1:6443" };
const BASE = {
  server: "https://10.0.0.1:6443",
  from: `kubeconfig ${FILE}, context "x"`,
  insecureSkipTlsVerify: false,
};

describe("a kubeconfig's current context", () => {
  const honoured: {
    name: string;
    cluster: Record<string, unknown>;
    user?: Record<string, unknown>;
    want: KubeCredentials;
  }[] = [
    { name: "server only (anonymous, system roots)", cluster: SERVER, want: BASE },
    {
      name: "http server, trailing slash dropped",
      cluster: { server: "http://127.0.0.1:8080/" },
      want: { ...BASE, server: "http://127.0.0.1:8080" },
    },
    {
      name: "server with a path prefix",
      cluster: { server: "https://rancher.example/k8s/clusters/c-1/" },
      want: { ...BASE, server: "https://rancher.example/k8s/clusters/c-1" },
    },
    {
      name: "certificate-authority-data",
      cluster: { ...SERVER, "certificate-authority-data": Buffer.from("CA PEM").toString("base64") },
      want: { ...BASE, ca: { data: Buffer.from("CA PEM") } },
    },
    {
      name: "certificate-authority, relative to the kubeconfig's folder",
      cluster: { ...SERVER, "certificate-authority": "pki/ca.crt" },
      want: { ...BASE, ca: { file: "/etc/redis-dr/pki/ca.crt" } },
    },
    {
      name: "certificate-authority, absolute",
      cluster: { ...SERVER, "certificate-authority": "/srv/ca.crt" },
      want: { ...BASE, ca: { file: "/srv/ca.crt" } },
    },
    {
      name: "insecure-skip-tls-verify",
      cluster: { ...SERVER, "insecure-skip-tls-verify": true },
      want: { ...BASE, insecureSkipTlsVerify: true },
    },
    {
      name: "tls-server-name",
      cluster: { ...SERVER, "tls-server-name": "kubernetes.default.svc" },
      want: { ...BASE, tlsServerName: "kubernetes.default.svc" },
    },
    {
      name: "extensions and disable-compression are ignored",
      cluster: { ...SERVER, extensions: [{ name: "x", extension: {} }], "disable-compression": true },
      want: BASE,
    },
    {
      name: "token",
      cluster: SERVER,
      user: { token: "t0k3n" },
      want: { ...BASE, token: { value: "t0k3n" } },
    },
    {
      name: "tokenFile, relative",
      cluster: SERVER,
      user: { tokenFile: "token" },
      want: { ...BASE, token: { file: "/etc/redis-dr/token" } },
    },
    {
      name: "tokenFile wins over token (client-go: the file is re-read)",
      cluster: SERVER,
      user: { token: "old", tokenFile: "/run/token" },
      want: { ...BASE, token: { file: "/run/token" } },
    },
    {
      name: "client-certificate and client-key, relative",
      cluster: SERVER,
      user: { "client-certificate": "u.crt", "client-key": "../u.key" },
      want: {
        ...BASE,
        clientCertificate: { file: "/etc/redis-dr/u.crt" },
        clientKey: { file: "/etc/u.key" },
      },
    },
    {
      name: "client-certificate-data and client-key-data",
      cluster: SERVER,
      user: {
        "client-certificate-data": Buffer.from("CERT").toString("base64"),
        "client-key-data": Buffer.from("KEY").toString("base64"),
      },
      want: {
        ...BASE,
        clientCertificate: { data: Buffer.from("CERT") },
        clientKey: { data: Buffer.from("KEY") },
      },
    },
  ];
  for (const { name, cluster, user, want } of honoured) {
    it(`honours ${name}`, () => {
      assert.deepEqual(credentialsFromKubeconfig(kubeconfig(cluster, user), FILE), want);
    });
  }

  const USER_SUPPORTS =
    "(it supports token, tokenFile, client-certificate, client-certificate-data, client-key, client-key-data)";
  const CLUSTER_SUPPORTS =
    "(it supports server, certificate-authority, certificate-authority-data, insecure-skip-tls-verify, tls-server-name)";
  const refused: {
    name: string;
    cluster?: Record<string, unknown>;
    user?: Record<string, unknown>;
    message: string;
  }[] = [
    {
      name: "exec credential plugins",
      user: { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "aws" } },
      message: `user "u" uses exec, which the webhook's API client does not support ${USER_SUPPORTS}`,
    },
    {
      name: "auth-provider",
      user: { "auth-provider": { name: "oidc", config: {} } },
      message: `user "u" uses auth-provider, which the webhook's API client does not support ${USER_SUPPORTS}`,
    },
    {
      name: "username and password",
      user: { username: "admin", password: "hunter2" },
      message: `user "u" uses username, password, which the webhook's API client does not support ${USER_SUPPORTS}`,
    },
    {
      name: "impersonation",
      user: { token: "t", as: "alice" },
      message: `user "u" uses as, which the webhook's API client does not support ${USER_SUPPORTS}`,
    },
    {
      name: "proxy-url",
      cluster: { ...SERVER, "proxy-url": "http://proxy:3128" },
      message: `cluster "c" uses proxy-url, which the webhook's API client does not support ${CLUSTER_SUPPORTS}`,
    },
    {
      name: "a client certificate without its key",
      user: { "client-certificate": "u.crt" },
      message: 'user "u" needs both a client certificate and its key, or neither',
    },
    {
      name: "a file and inline data for the same thing",
      cluster: { ...SERVER, "certificate-authority": "ca.crt", "certificate-authority-data": "Q0E=" },
      message: 'cluster "c" sets both certificate-authority and certificate-authority-data',
    },
    {
      name: "a server that is neither https nor http",
      cluster: { server: "unix:///run/k8s.sock" },
      message: 'cluster "c": server "unix:///run/k8s.sock" is neither https nor http',
    },
    { name: "a cluster without a server", cluster: {}, message: 'cluster "c" has no server' },
    {
      name: "insecure-skip-tls-verify that is not a boolean",
      cluster: { ...SERVER, "insecure-skip-tls-verify": "yes" },
      message: 'cluster "c": insecure-skip-tls-verify is not true or false',
    },
  ];
  for (const { name, cluster, user, message } of refused) {
    it(`refuses ${name}, naming it`, () => {
      assert.throws(
        () => credentialsFromKubeconfig(kubeconfig(cluster ?? SERVER, user), FILE),
        (error: unknown) =>
          error instanceof KubeCredentialsError && error.message === `kubeconfig ${FILE}: ${message}`,
      );
    });
  }

  it("never quotes a refused credential's value", () => {
    assert.throws(
      () => credentialsFromKubeconfig(kubeconfig(SERVER, { username: "admin", password: "hunter2" }), FILE),
      (error: unknown) =>
        error instanceof Error && !error.message.includes("hunter2") && !error.message.includes("admin"),
    );
  });

  const broken: { name: string; text: string; message: string }[] = [
    { name: "no current-context", text: "apiVersion: v1\nkind: Config\n", message: "no current-context" },
    {
      name: "a current-context that is not listed",
      text: "current-context: gone\ncontexts: []\n",
      message: 'contexts has no entry named "gone"',
    },
    {
      name: "a context whose cluster is not listed",
      text: "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: []\n",
      message: 'clusters has no entry named "c"',
    },
    {
      name: "a context whose user is not listed",
      text:
        "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n" +
        "clusters: [{name: c, cluster: {server: 'https://k:6443'}}]\n",
      message: 'users has no entry named "u"',
    },
    { name: "not YAML", text: "clusters: [\n", message: "not YAML: " },
  ];
  for (const { name, text, message } of broken) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => credentialsFromKubeconfig(text, FILE),
        (error: unknown) =>
          error instanceof KubeCredentialsError && error.message.startsWith(`kubeconfig ${FILE}: ${message}`),
      );
    });
  }
});

describe("findCredentials: KUBECONFIG, else ~/.kube/config, else the in-cluster service account", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "redis-dr-credentials-"));
    await mkdir(join(dir, "home", ".kube"), { recursive: true });
    await mkdir(join(dir, "empty-home"));
    await writeFile(join(dir, "a.yaml"), kubeconfig({ server: "https://a.example:6443" }));
    await writeFile(
      join(dir, "home", ".kube", "config"),
      kubeconfig({ server: "https://home.example:6443" }),
    );
    await mkdir(join(dir, "sa"));
    await writeFile(join(dir, "sa", "token"), "projected-token\n");
    await writeFile(join(dir, "sa", "ca.crt"), "CA PEM");
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const inCluster = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };

  it("reads KUBECONFIG first, even in a pod with a home kubeconfig", () => {
    const found = findCredentials({
      env: { KUBECONFIG: join(dir, "a.yaml"), ...inCluster },
      home: join(dir, "home"),
      serviceAccountDir: join(dir, "sa"),
    });
    assert.equal(found.server, "https://a.example:6443");
    assert.equal(found.from, `kubeconfig ${join(dir, "a.yaml")}, context "x"`);
  });

  it("reads only KUBECONFIG's first file, and says which it ignored", () => {
    const other = join(dir, "home", ".kube", "config");
    const found = findCredentials({ env: { KUBECONFIG: `${join(dir, "a.yaml")}${delimiter}${other}` } });
    assert.equal(found.server, "https://a.example:6443");
    assert.equal(
      found.from,
      `kubeconfig ${join(dir, "a.yaml")}, context "x"; KUBECONFIG's other files ignored: ${other}`,
    );
  });

  it("refuses a KUBECONFIG that cannot be read", () => {
    assert.throws(
      () => findCredentials({ env: { KUBECONFIG: join(dir, "missing.yaml") } }),
      (error: unknown) =>
        error instanceof KubeCredentialsError &&
        error.message.startsWith(`cannot read kubeconfig ${join(dir, "missing.yaml")}: ENOENT`),
    );
  });

  it("reads ~/.kube/config without KUBECONFIG", () => {
    const found = findCredentials({ env: { ...inCluster }, home: join(dir, "home") });
    assert.equal(found.server, "https://home.example:6443");
  });

  it("uses the pod's service account without either: https to the kubernetes Service, its CA, its token file", () => {
    assert.deepEqual(
      findCredentials({ env: inCluster, home: join(dir, "empty-home"), serviceAccountDir: join(dir, "sa") }),
      {
        server: "https://10.96.0.1:443",
        from: `in-cluster service account (${join(dir, "sa")})`,
        ca: { file: join(dir, "sa", "ca.crt") },
        insecureSkipTlsVerify: false,
        token: { file: join(dir, "sa", "token") },
      },
    );
  });

  it("brackets an IPv6 service host", () => {
    const found = findCredentials({
      env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" },
      home: join(dir, "empty-home"),
      serviceAccountDir: join(dir, "sa"),
    });
    assert.equal(found.server, "https://[fd00::1]:443");
  });

  it("refuses a pod without a mounted token", () => {
    assert.throws(
      () =>
        findCredentials({
          env: inCluster,
          home: join(dir, "empty-home"),
          serviceAccountDir: join(dir, "nothing"),
        }),
      (error: unknown) =>
        error instanceof KubeCredentialsError &&
        error.message ===
          `in a pod (KUBERNETES_SERVICE_HOST is set) but ${join(dir, "nothing", "token")} does not exist: ` +
            "is the service account token mounted?",
    );
  });

  it("refuses to start with no credentials at all (client-node would have tried http://localhost:8080)", () => {
    assert.throws(
      () => findCredentials({ env: {}, home: join(dir, "empty-home") }),
      (error: unknown) =>
        error instanceof KubeCredentialsError &&
        error.message ===
          `no Kubernetes credentials: KUBECONFIG is not set, ${join(dir, "empty-home", ".kube", "config")} does ` +
            "not exist, and KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not in a pod)",
    );
  });
});
