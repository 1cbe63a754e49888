/**
 * `--client-ca-file` (off by default): the webhook completes TLS handshakes only with clients whose certificate
 * the given CA signed — the API server, configured to present one to webhooks — and with `--client-names`,
 * answers only those common names. The CA bundle is re-read when it changes, like the serving certificate.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request as httpsRequest } from "node:https";
import { Registry } from "prom-client";
import { serve, type RunningWebhook } from "../../../webhook/server/serve.ts";
import { VALIDATE_PATH } from "../../../webhook/server/app.ts";
import { createTestCa, type TestCa } from "../../support/certs.ts";
import { captureLogs } from "../../support/logs.ts";
import { FakeSecrets } from "../../support/fake-secrets.ts";
import { FakeAccess } from "../../support/fake-access.ts";
import { fixture } from "../../support/fixtures.ts";

const HOST = "127.0.0.1";

type Client = { cert: string; key: string } | undefined;

function post(port: number, ca: string, client: Client): Promise<{ status: number; body: unknown }> {
  const payload = JSON.stringify(fixture("create-redis-west"));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: HOST,
        port,
        ca,
        ...(client ?? {}),
        servername: "localhost",
        agent: false,
        method: "POST",
        path: VALIDATE_PATH,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

describe("verifying the API server's client certificate", () => {
  let dir: string;
  let serving: TestCa;
  let clients: TestCa;
  let other: TestCa;
  let webhook: RunningWebhook | undefined;
  let port = 0;
  const caFile = () => join(dir, "client-ca.crt");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "redis-dr-client-auth-"));
    [serving, clients, other] = await Promise.all([
      createTestCa("serving CA"),
      createTestCa("front-proxy CA"),
      createTestCa("another CA"),
    ]);
    const pair = await serving.issue("redis-dr-webhook");
    await writeFile(join(dir, "tls.crt"), pair.cert);
    await writeFile(join(dir, "tls.key"), pair.key);
    await writeFile(caFile(), clients.certPem);
    webhook = await serve({
      certDir: dir,
      host: HOST,
      port: 0,
      healthPort: 0,
      certPollMs: 50,
      shutdownGraceMs: 2_000,
      secrets: new FakeSecrets().with("default", "redis-password", ["password"]),
      access: FakeAccess.allowingAll(),
      clientAuth: { caFile: caFile(), names: ["kube-apiserver"] },
      logger: captureLogs("info").logger,
      registry: new Registry(),
    });
    port = await webhook.ready;
  });
  after(async () => {
    await webhook?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("answers the API server's certificate", async () => {
    const apiServer = await clients.issue("kube-apiserver", "clientAuth");
    const { status, body } = await post(port, serving.certPem, apiServer);
    assert.equal(status, 200);
    assert.equal((body as { response: { allowed: boolean } }).response.allowed, true);
  });

  test("refuses the handshake without a certificate, or with one another CA signed", async () => {
    await assert.rejects(post(port, serving.certPem, undefined));
    await assert.rejects(post(port, serving.certPem, await other.issue("kube-apiserver", "clientAuth")));
  });

  test("answers 403, before reading the body, a certificate of the right CA with another name", async () => {
    const { status, body } = await post(port, serving.certPem, await clients.issue("some-pod", "clientAuth"));
    assert.deepEqual(
      { status, body },
      {
        status: 403,
        body: {
          apiVersion: "v1",
          kind: "Status",
          status: "Failure",
          code: 403,
          reason: "Forbidden",
          message: "this webhook answers the API server only (see --client-names)",
        },
      },
    );
  });

  test("follows a rotated CA bundle without a restart", async () => {
    const before = await clients.issue("kube-apiserver", "clientAuth");
    const after = await other.issue("kube-apiserver", "clientAuth");
    await writeFile(`${caFile()}.tmp`, other.certPem);
    await rename(`${caFile()}.tmp`, caFile());
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await post(port, serving.certPem, after).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      assert.ok(Date.now() < deadline, "the new CA bundle was never used");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await assert.rejects(post(port, serving.certPem, before));
  });
});
