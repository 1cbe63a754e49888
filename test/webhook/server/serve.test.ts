/**
 * The webhook served for real: HTTPS with a certificate from a test CA, the certificate rotated on disk,
 * the health port, TLS versions, and a graceful stop.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile, rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request as httpsRequest } from "node:https";
import { connect, type PeerCertificate, type TLSSocket } from "node:tls";
import { Registry } from "prom-client";
import { ADMISSION_SERVER_TIMEOUTS, serve, type RunningWebhook } from "../../../webhook/server/serve.ts";
import { VALIDATE_PATH } from "../../../webhook/server/app.ts";
import { createTestCa, type TestCa } from "../../support/certs.ts";
import { captureLogs } from "../../support/logs.ts";
import { FakeSecrets } from "../../support/fake-secrets.ts";
import { FakeAccess } from "../../support/fake-access.ts";
import type { SecretReader } from "../../../webhook/validation/secrets.ts";
import { fixture } from "../../support/fixtures.ts";

const HOST = "127.0.0.1";

async function writeKeyPair(dir: string, pair: { cert: string; key: string }): Promise<void> {
  // Like the kubelet: write aside, then swap in, so a reader never sees half a file.
  await writeFile(join(dir, "tls.crt.tmp"), pair.cert);
  await writeFile(join(dir, "tls.key.tmp"), pair.key);
  await rename(join(dir, "tls.key.tmp"), join(dir, "tls.key"));
  await rename(join(dir, "tls.crt.tmp"), join(dir, "tls.crt"));
}

/** The serial number of the certificate a new TLS connection is served (verified against the CA). */
function servedSerial(
  port: number,
  ca: string,
  options: {
    minVersion?: "TLSv1.2" | "TLSv1.3";
    maxVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
  } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port, ca, servername: "localhost", ...options }, () => {
      const peer: PeerCertificate = socket.getPeerCertificate();
      socket.end();
      resolve(peer.serialNumber.toLowerCase().replace(/^0+/, ""));
    });
    socket.on("error", reject);
  });
}

async function eventually<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  what: string,
): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`gave up waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

type TlsVersion = "TLSv1.2" | "TLSv1.3";

/** POSTs an AdmissionReview; `protocol` is the TLS version the connection negotiated. */
function post(
  port: number,
  ca: string,
  body: unknown,
  versions: { minVersion?: TlsVersion; maxVersion?: TlsVersion } = {},
): Promise<{ status: number; body: unknown; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = httpsRequest(
      {
        host: HOST,
        port,
        ca,
        servername: "localhost",
        ...versions,
        // A fresh connection per request, so the versions asked for are the ones negotiated.
        agent: false,
        method: "POST",
        path: VALIDATE_PATH,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        const protocol = (res.socket as TLSSocket).getProtocol();
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString()),
            protocol,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

describe("serving over real TLS", () => {
  let dir: string;
  let ca: TestCa;
  let webhook: RunningWebhook | undefined;
  const logs = captureLogs("info");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "redis-dr-webhook-"));
    ca = await createTestCa();
  });
  after(async () => {
    await webhook?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("is not ready until a certificate is loaded, then serves verified HTTPS and swaps certificates without a restart", async () => {
    webhook = await serve({
      certDir: dir,
      host: HOST,
      port: 0,
      healthPort: 0,
      certPollMs: 50,
      shutdownGraceMs: 2_000,
      secrets: new FakeSecrets().with("default", "redis-password", ["password"]),
      access: FakeAccess.allowingAll(),
      logger: logs.logger,
      registry: new Registry(),
    });
    const health = `http://${HOST}:${webhook.healthPort}`;
    for (const path of ["/healthz", "/readyz"]) {
      const res = await fetch(`${health}${path}`);
      assert.equal(res.status, 503, path);
      assert.equal(
        await res.text(),
        "not serving admission requests yet (no certificate loaded, or the HTTPS port is not listening)",
      );
    }

    const first = await ca.issue("redis-dr-webhook first");
    await writeKeyPair(dir, first);
    const port = await webhook.ready;
    assert.equal((await fetch(`${health}/readyz`)).status, 200);
    assert.equal((await fetch(`${health}/healthz`)).status, 200);

    assert.equal(await servedSerial(port, ca.certPem), first.serial);
    const answer = await post(port, ca.certPem, fixture("create-redis-west"));
    assert.deepEqual(answer, {
      status: 200,
      protocol: "TLSv1.3",
      body: {
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: { uid: "3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10", allowed: true },
      },
    });

    // An established connection survives the rotation.
    const longLived = connect({ host: HOST, port, ca: ca.certPem, servername: "localhost" });
    await new Promise<void>((resolve, reject) =>
      longLived.once("secureConnect", resolve).once("error", reject),
    );

    const second = await ca.issue("redis-dr-webhook second");
    await writeKeyPair(dir, second);
    await eventually(
      () => servedSerial(port, ca.certPem),
      (serial) => serial === second.serial,
      "the new certificate",
    );
    assert.equal(longLived.destroyed, false);
    assert.equal(longLived.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, ""), first.serial);
    longLived.end();

    const metrics = await (await fetch(`${health}/metrics`)).text();
    assert.match(
      metrics,
      /redis_dr_webhook_admission_requests_total\{endpoint="validate",operation="CREATE",decision="allowed"\} 1/,
    );
    assert.ok(logs.lines().some((line) => line.msg === "serving certificate reloaded"));
  });

  test("keeps idle connections longer than the API server's 90 s, so it never reuses one closed here", async () => {
    assert.ok(webhook);
    const port = await webhook.ready;
    const agent = new Agent({ keepAlive: true, ca: ca.certPem, servername: "localhost" });
    try {
      // Node announces the server's keepAliveTimeout, in seconds, on every keep-alive response.
      const keepAlive = await new Promise<string | undefined>((resolve, reject) => {
        const req = httpsRequest({ host: HOST, port, agent, path: "/", method: "GET" }, (res) => {
          res.resume();
          const header = res.headers["keep-alive"];
          resolve(typeof header === "string" ? header : undefined);
        });
        req.on("error", reject);
        req.end();
      });
      assert.equal(keepAlive, "timeout=120");
      assert.ok(Number(/timeout=(\d+)/.exec(keepAlive ?? "")?.[1]) * 1000 > 90_000);
    } finally {
      agent.destroy();
    }
    // Node refuses a headersTimeout above requestTimeout; a stalled request is still cut off.
    const { headersTimeout, requestTimeout } = ADMISSION_SERVER_TIMEOUTS;
    assert.ok(headersTimeout <= requestTimeout);
  });

  test("keeps the loaded certificate while a rotation is half written", async () => {
    assert.ok(webhook);
    const port = await webhook.ready;
    const current = await servedSerial(port, ca.certPem);
    const next = await ca.issue("redis-dr-webhook third");
    const mismatches = () =>
      logs.lines().filter((line) => line.msg === "serving certificate and key are not usable yet").length;
    const before = mismatches();
    // Only the certificate so far: it does not match the key on disk.
    await writeFile(join(dir, "tls.crt"), next.cert);
    await eventually(
      async () => mismatches(),
      (count) => count > before,
      "the mismatch to be noticed",
    );
    assert.equal(await servedSerial(port, ca.certPem), current);
    await writeFile(join(dir, "tls.key"), next.key);
    await eventually(
      () => servedSerial(port, ca.certPem),
      (serial) => serial === next.serial,
      "the completed rotation",
    );
  });

  test("serves a client limited to exactly TLS 1.2", async () => {
    assert.ok(webhook);
    const port = await webhook.ready;
    const answer = await post(port, ca.certPem, fixture("create-redis-west"), {
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.2",
    });
    assert.deepEqual(answer, {
      status: 200,
      protocol: "TLSv1.2",
      body: {
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: { uid: "3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10", allowed: true },
      },
    });
  });

  test("refuses TLS 1.1 and accepts TLS 1.3", async () => {
    assert.ok(webhook);
    const port = await webhook.ready;
    await assert.rejects(servedSerial(port, ca.certPem, { maxVersion: "TLSv1.1" }));
    assert.ok(await servedSerial(port, ca.certPem, { minVersion: "TLSv1.3" }));
  });

  test("a client that does not trust the CA is refused", async () => {
    assert.ok(webhook);
    const port = await webhook.ready;
    const other = await createTestCa("another CA");
    await assert.rejects(servedSerial(port, other.certPem), /self[- ]signed|unable to verify|unable to get/i);
  });
});

describe("stopping gracefully", () => {
  let dir: string;
  let webhook: RunningWebhook | undefined;

  after(async () => {
    await webhook?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("a request in flight is answered, then nothing listens", async () => {
    dir = await mkdtemp(join(tmpdir(), "redis-dr-webhook-"));
    const ca = await createTestCa();
    await writeKeyPair(dir, await ca.issue("redis-dr-webhook"));
    // A Secret lookup that waits until the test lets it go: the request is inside the server when stop begins.
    let arrived!: () => void;
    const inside = new Promise<void>((resolve) => (arrived = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const secrets: SecretReader = {
      async secretKeys() {
        arrived();
        await gate;
        return new Set(["password"]);
      },
    };
    webhook = await serve({
      certDir: dir,
      host: HOST,
      port: 0,
      healthPort: 0,
      certPollMs: 50,
      shutdownGraceMs: 5_000,
      secrets,
      access: FakeAccess.allowingAll(),
      logger: captureLogs().logger,
      registry: new Registry(),
    });
    const port = await webhook.ready;
    const inFlight = post(port, ca.certPem, fixture("create-redis-west"));
    await inside;
    const stopped = webhook.stop();
    webhook = undefined;
    release();
    const answer = await inFlight;
    await stopped;
    assert.equal(answer.status, 200);
    assert.equal((answer.body as { response: { allowed: boolean } }).response.allowed, true);
    await assert.rejects(servedSerial(port, ca.certPem), /ECONNREFUSED/);
  });
});
