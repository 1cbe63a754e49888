/**
 * The webhook's own Kubernetes API client against a real local HTTPS server with real certificates: server
 * verification (CA, tls-server-name, insecure-skip-tls-verify), bearer tokens (given, in a file re-read as a
 * projected token is rotated, in-cluster), client-certificate authentication, error answers, and the bounded
 * keep-alive pool.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { after, before, describe, it } from "node:test";
import YAML from "yaml";
import {
  KubeApiError,
  MAX_SOCKETS,
  REREAD_AFTER_MS,
  createKubeApiClient,
  type KubeApiClient,
} from "../../../webhook/kube/api-client.ts";
import { kubeAccessReviewer } from "../../../webhook/kube/access-reviewer.ts";
import {
  KubeCredentialsError,
  findCredentials,
  type KubeCredentials,
} from "../../../webhook/kube/credentials.ts";
import { kubeSecretReader } from "../../../webhook/kube/secret-reader.ts";
import { SecretReadError } from "../../../webhook/validation/secrets.ts";
import { createTestCa, type TestCa } from "../../support/certs.ts";
import { captureLogs } from "../../support/logs.ts";

const PASSWORD = "s3cr3t-value";

const secretPath = (namespace: string, name: string) => `/api/v1/namespaces/${namespace}/secrets/${name}`;

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
  /** The common name of the client certificate the server verified, if any. */
  readonly clientName: string | undefined;
}

let ca: TestCa;
let server: Server;
let base = "";
let dir = "";
const seen: Seen[] = [];
let connections = 0;
let inFlight = 0;
let mostInFlight = 0;
/** Milliseconds the server waits before answering a Secret get. */
let delayMs = 0;

const status = (code: number, reason: string, message: string) => ({
  kind: "Status",
  apiVersion: "v1",
  status: "Failure",
  code,
  reason,
  message,
});

function answer(req: IncomingMessage, res: ServerResponse, body: string): void {
  const socket = req.socket as TLSSocket;
  const clientName = socket.authorized ? String(socket.getPeerCertificate().subject.CN) : undefined;
  seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, clientName });
  const send = (code: number, json: unknown) => {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(json));
  };
  if (req.method === "POST" && req.url === "/apis/authorization.k8s.io/v1/subjectaccessreviews") {
    const review = JSON.parse(body) as { spec: { user: string } };
    return send(201, { ...review, status: { allowed: review.spec.user === "alice" } });
  }
  const name = /^\/api\/v1\/namespaces\/default\/secrets\/([^/]+)$/.exec(req.url ?? "")?.[1];
  if (req.method !== "GET" || name === undefined) return send(404, status(404, "NotFound", "no such path"));
  if (name === "missing") return send(404, status(404, "NotFound", 'secrets "missing" not found'));
  if (name === "forbidden") {
    return send(
      403,
      status(
        403,
        "Forbidden",
        'secrets "forbidden" is forbidden: User "webhook" cannot get resource "secrets"',
      ),
    );
  }
  // A server that answers an error with an object, not a Status: none of it may reach the error.
  if (name === "broken") return send(500, { kind: "Secret", data: { password: PASSWORD } });
  inFlight += 1;
  mostInFlight = Math.max(mostInFlight, inFlight);
  setTimeout(() => {
    inFlight -= 1;
    send(200, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace: "default" },
      data: { password: Buffer.from(PASSWORD).toString("base64"), empty: "" },
    });
  }, delayMs);
}

before(async () => {
  ca = await createTestCa();
  const { cert, key } = await ca.issue("localhost");
  // Asks for a client certificate and verifies it against the test CA, but also serves clients without one
  // (as the API server does: they may use a token).
  server = createServer(
    { cert, key, ca: ca.certPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => answer(req, res, Buffer.concat(chunks).toString("utf8")));
    },
  );
  server.on("secureConnection", () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), "redis-dr-api-client-"));
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const clients: KubeApiClient[] = [];
after(() => {
  for (const client of clients) client.close();
});

/** A client of the test server, verified with the test CA, with `extra` credentials. */
function client(extra: Partial<KubeCredentials> = {}, now?: () => number): KubeApiClient {
  const made = createKubeApiClient(
    {
      server: base,
      from: "test",
      ca: { data: Buffer.from(ca.certPem) },
      insecureSkipTlsVerify: false,
      ...extra,
    },
    { ...(now !== undefined ? { now } : {}) },
  );
  clients.push(made);
  return made;
}

const last = (): Seen => {
  const request = seen.at(-1);
  assert.ok(request, "the server saw no request");
  return request;
};

/** The error `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

describe("server verification", () => {
  it("verifies the server with the configured CA and reads a Secret's key names, with JSON headers", async () => {
    const reader = kubeSecretReader(client({ token: { value: "t0k3n" } }), captureLogs().logger);
    assert.deepEqual([...((await reader.secretKeys("default", "present")) ?? [])], ["password"]);
    const request = last();
    assert.equal(request.url, "/api/v1/namespaces/default/secrets/present");
    assert.equal(request.headers.accept, "application/json");
    assert.equal(request.headers.authorization, "Bearer t0k3n");
    assert.equal(request.headers["user-agent"], "redis-dr-webhook");
  });

  it("refuses a server its CA did not sign", async () => {
    const other = await createTestCa("another CA");
    const error = await failure(client({ ca: { data: Buffer.from(other.certPem) } }).get("/version"));
    assert.equal((error as { code?: string }).code, "SELF_SIGNED_CERT_IN_CHAIN");
  });

  it("refuses a server without a CA, against the system's roots", async () => {
    const error = await failure(
      createKubeApiClient({ server: base, from: "t", insecureSkipTlsVerify: false }).get("/"),
    );
    assert.equal((error as { code?: string }).code, "SELF_SIGNED_CERT_IN_CHAIN");
  });

  it("accepts any server with insecure-skip-tls-verify", async () => {
    const other = await createTestCa("another CA");
    const api = client({ ca: { data: Buffer.from(other.certPem) }, insecureSkipTlsVerify: true });
    assert.equal(((await api.get(secretPath("default", "present"))) as { kind: string }).kind, "Secret");
  });

  it("checks the certificate against tls-server-name instead of the URL's host", async () => {
    const error = await failure(client({ tlsServerName: "kubernetes.example" }).get("/"));
    assert.equal((error as { code?: string }).code, "ERR_TLS_CERT_ALTNAME_INVALID");
    const api = client({ tlsServerName: "localhost" });
    assert.equal(((await api.get(secretPath("default", "present"))) as { kind: string }).kind, "Secret");
  });

  it("fails at creation, naming the file, when a CA file cannot be read", () => {
    const missing = join(dir, "no-ca.crt");
    assert.throws(
      () => client({ ca: { file: missing } }),
      (error: unknown) =>
        error instanceof KubeCredentialsError &&
        error.message.startsWith(`cannot read the certificate authority ${missing}: ENOENT`),
    );
  });
});

describe("client-certificate authentication", () => {
  it("presents the kubeconfig's client certificate, files relative to the kubeconfig", async () => {
    const pair = await ca.issue("redis-dr-webhook", "clientAuth");
    await writeFile(join(dir, "webhook.crt"), pair.cert);
    await writeFile(join(dir, "webhook.key"), pair.key, { mode: 0o600 });
    await writeFile(join(dir, "ca.crt"), ca.certPem);
    await writeFile(
      join(dir, "kubeconfig"),
      YAML.stringify({
        clusters: [{ name: "c", cluster: { server: base, "certificate-authority": "ca.crt" } }],
        users: [{ name: "u", user: { "client-certificate": "webhook.crt", "client-key": "webhook.key" } }],
        contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
        "current-context": "x",
      }),
    );
    const api = createKubeApiClient(findCredentials({ env: { KUBECONFIG: join(dir, "kubeconfig") } }));
    clients.push(api);
    await api.get(secretPath("default", "present"));
    assert.equal(last().clientName, "redis-dr-webhook");
    assert.equal(last().headers.authorization, undefined);
  });

  it("presents inline certificate data, and a rotated certificate file once it is due for a re-read", async () => {
    const first = await ca.issue("webhook-1", "clientAuth");
    const second = await ca.issue("webhook-2", "clientAuth");
    const inline = client({
      clientCertificate: { data: Buffer.from(first.cert) },
      clientKey: { data: Buffer.from(first.key) },
    });
    await inline.get(secretPath("default", "present"));
    assert.equal(last().clientName, "webhook-1");

    await writeFile(join(dir, "rotating.crt"), first.cert);
    await writeFile(join(dir, "rotating.key"), first.key);
    let now = 1_000_000;
    const api = client(
      {
        clientCertificate: { file: join(dir, "rotating.crt") },
        clientKey: { file: join(dir, "rotating.key") },
      },
      () => now,
    );
    await api.get(secretPath("default", "present"));
    assert.equal(last().clientName, "webhook-1");
    // Mid-rotation: the new certificate is there, its key not yet.
    await writeFile(join(dir, "rotating.crt"), second.cert);
    now += REREAD_AFTER_MS;
    await api.get(secretPath("default", "present"));
    assert.equal(last().clientName, "webhook-1", "a certificate without its key is not used");
    await writeFile(join(dir, "rotating.key"), second.key);
    now += REREAD_AFTER_MS - 1;
    await api.get(secretPath("default", "present"));
    assert.equal(last().clientName, "webhook-1", "re-read before it is due");
    now += 1;
    await api.get(secretPath("default", "present"));
    assert.equal(last().clientName, "webhook-2");
  });
});

describe("bearer tokens", () => {
  it("re-reads a token file when older than a minute, so a rotated projected token is used", async () => {
    const file = join(dir, "token");
    await writeFile(file, "token-1\n");
    let now = 5_000_000;
    const api = client({ token: { file } }, () => now);
    await api.get(secretPath("default", "present"));
    assert.equal(last().headers.authorization, "Bearer token-1");
    await writeFile(file, "token-2\n");
    now += REREAD_AFTER_MS - 1;
    await api.get(secretPath("default", "present"));
    assert.equal(last().headers.authorization, "Bearer token-1");
    now += 1;
    await api.get(secretPath("default", "present"));
    assert.equal(last().headers.authorization, "Bearer token-2");
    // A token file caught empty mid-rotation keeps the last token rather than sending none.
    await writeFile(file, "");
    now += REREAD_AFTER_MS;
    await api.get(secretPath("default", "present"));
    assert.equal(last().headers.authorization, "Bearer token-2");
  });

  it("refuses an empty token file at creation", async () => {
    const file = join(dir, "empty-token");
    await writeFile(file, "\n");
    assert.throws(
      () => client({ token: { file } }),
      (error: unknown) =>
        error instanceof KubeCredentialsError && error.message === `the token file ${file} is empty`,
    );
  });

  it("in a pod: the kubernetes Service's address from the environment, the mounted CA and token", async () => {
    const sa = await mkdtemp(join(dir, "serviceaccount-"));
    await writeFile(join(sa, "token"), "projected-token");
    await writeFile(join(sa, "ca.crt"), ca.certPem);
    const port = String((server.address() as AddressInfo).port);
    const credentials = findCredentials({
      env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: port },
      home: sa,
      serviceAccountDir: sa,
    });
    const api = createKubeApiClient(credentials);
    clients.push(api);
    const reviewer = kubeAccessReviewer(api, captureLogs().logger);
    assert.equal(await reviewer.mayGetSecret({ username: "alice" }, "default", "present"), true);
    assert.equal(last().headers.authorization, "Bearer projected-token");
  });
});

describe("requests and answers", () => {
  it("posts a SubjectAccessReview as JSON with its length, and reads the decision", async () => {
    const reviewer = kubeAccessReviewer(client(), captureLogs().logger);
    assert.equal(
      await reviewer.mayGetSecret({ username: "alice", groups: ["devs"] }, "default", "east-auth"),
      true,
    );
    const request = last();
    assert.equal(request.method, "POST");
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers["content-length"], String(Buffer.byteLength(request.body)));
    assert.deepEqual(JSON.parse(request.body).spec, {
      user: "alice",
      groups: ["devs"],
      resourceAttributes: {
        namespace: "default",
        verb: "get",
        group: "",
        version: "v1",
        resource: "secrets",
        name: "east-auth",
      },
    });
    assert.equal(await reviewer.mayGetSecret({ username: "bob" }, "default", "east-auth"), false);
  });

  it("answers 404 as no such Secret, and 403 as an error carrying the code, the reason and no Secret", async () => {
    const logs = captureLogs();
    const api = client();
    const reader = kubeSecretReader(api, logs.logger);
    assert.equal(await reader.secretKeys("default", "missing"), undefined);
    await assert.rejects(
      reader.secretKeys("default", "forbidden"),
      (error: unknown) =>
        error instanceof SecretReadError && error.message === "the Kubernetes API answered 403",
    );
    const error = await failure(api.get(secretPath("default", "forbidden")));
    assert.ok(error instanceof KubeApiError);
    assert.equal(error.code, 403);
    assert.equal(error.reason, "Forbidden");
    assert.equal(
      error.message,
      "the Kubernetes API answered 403 to GET /api/v1/namespaces/default/secrets/forbidden",
    );
    // The log line keeps the numeric code where the real-control-plane tests look for it.
    assert.match(logs.text(), /"err":\{[^}]*"code":403/);
  });

  it("keeps an error answer's body out of the error when it is not a Status", async () => {
    const logs = captureLogs();
    const api = client();
    const error = await failure(api.get(secretPath("default", "broken")));
    assert.ok(error instanceof KubeApiError);
    assert.equal(error.code, 500);
    assert.equal(error.reason, undefined);
    assert.equal(error.statusMessage, undefined);
    await assert.rejects(kubeSecretReader(api, logs.logger).secretKeys("default", "broken"));
    const base64 = Buffer.from(PASSWORD).toString("base64");
    assert.ok(!logs.text().includes(PASSWORD) && !logs.text().includes(base64), logs.text());
    assert.ok(!JSON.stringify({ ...error, message: error.message }).includes(PASSWORD));
  });

  it("encodes the user's names in the path", async () => {
    await kubeSecretReader(client(), captureLogs().logger).secretKeys("default", "../x?y");
    assert.equal(last().url, "/api/v1/namespaces/default/secrets/..%2Fx%3Fy");
  });
});

describe("the connection pool", () => {
  it("reuses one connection for sequential calls", async () => {
    const api = client();
    const start = connections;
    for (let i = 0; i < 10; i++) await api.get(secretPath("default", `s${i}`));
    assert.equal(connections - start, 1);
  });

  it(`opens at most ${MAX_SOCKETS} connections however many calls are in flight; the others wait`, async () => {
    const api = client();
    const start = connections;
    delayMs = 50;
    mostInFlight = 0;
    try {
      const answers = await Promise.all(
        Array.from({ length: 4 * MAX_SOCKETS }, (_, i) => api.get(secretPath("default", `p${i}`))),
      );
      assert.equal(answers.length, 4 * MAX_SOCKETS);
    } finally {
      delayMs = 0;
    }
    assert.equal(connections - start, MAX_SOCKETS);
    assert.equal(mostInFlight, MAX_SOCKETS);
  });
});
