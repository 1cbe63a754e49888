/**
 * Hostile AdmissionReviews posted straight to the webhook's HTTPS port (what any pod could do before the
 * NetworkPolicy allowed only the API server): the 437 KB review with 32k invalid resources.limits entries of
 * issue 16 gets a capped error list and a small answer, and a normal request right after still succeeds.
 * Sizes and contents are asserted, never times (hack/bench/admission.ts measures the latency).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
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
import { fixture, type Json } from "../../support/fixtures.ts";

const HOST = "127.0.0.1";
const ENTRIES = 32_000;

/**
 * The AdmissionReview of the issue: a CREATE whose spec.resources.limits has 32k entries that are neither an
 * integer nor a string, so each fails the int-or-string anyOf with both branches (the shape that made the old
 * error mapping quadratic: 19 s and a 7 MB answer in-process before the fix).
 */
export function hostileReview(entries = ENTRIES): Json {
  const review = fixture("create-redis-west");
  const request = review.request as Json;
  const object = request.object as Json;
  const limits: Record<string, boolean> = {};
  for (let i = 0; i < entries; i++) limits[`r${i}`] = true;
  (object.spec as Json).resources = { limits };
  request.uid = "hostile";
  return review;
}

function post(port: number, ca: string, payload: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: HOST,
        port,
        ca,
        servername: "localhost",
        method: "POST",
        path: VALIDATE_PATH,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

describe("a hostile AdmissionReview on the HTTPS port", () => {
  let dir: string;
  let ca: TestCa;
  let webhook: RunningWebhook | undefined;
  let port = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "redis-dr-hostile-"));
    ca = await createTestCa();
    const pair = await ca.issue("redis-dr-webhook");
    await writeFile(join(dir, "tls.crt"), pair.cert);
    await writeFile(join(dir, "tls.key"), pair.key);
    webhook = await serve({
      certDir: dir,
      host: HOST,
      port: 0,
      healthPort: 0,
      certPollMs: 1_000,
      shutdownGraceMs: 2_000,
      secrets: new FakeSecrets().with("default", "redis-password", ["password"]),
      access: FakeAccess.allowingAll(),
      logger: captureLogs("info").logger,
      registry: new Registry(),
    });
    port = await webhook.ready;
  });
  after(async () => {
    await webhook?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("32k invalid resources.limits entries get the first 100 field errors and a count of the rest", async () => {
    const payload = JSON.stringify(hostileReview());
    assert.ok(payload.length > 400_000, `the review is ${payload.length} bytes`);
    const { status, text } = await post(port, ca.certPem, payload);
    assert.equal(status, 200);
    // 7 MB before the cap; now a few dozen KB whatever the number of entries.
    assert.ok(text.length < 40_000, `the answer is ${text.length} bytes`);
    const response = (JSON.parse(text) as Json).response as Json;
    assert.equal(response.uid, "hostile");
    assert.equal(response.allowed, false);
    const st = response.status as {
      code: number;
      reason: string;
      message: string;
      details: { causes: { reason: string; field: string; message: string }[] };
    };
    assert.equal(st.code, 422);
    assert.equal(st.reason, "Invalid");
    assert.equal(st.details.causes.length, 100);
    assert.deepEqual(st.details.causes.slice(0, 2), [
      {
        reason: "FieldValueTooMany",
        field: "spec.resources.limits",
        message: `Too many: ${ENTRIES}: must have at most 16 items`,
      },
      {
        reason: "FieldValueInvalid",
        field: "spec.resources.limits[r0]",
        message: "Invalid value: true: must be an integer or a string",
      },
    ]);
    assert.equal(st.details.causes[99]?.field, "spec.resources.limits[r98]");
    assert.ok(
      st.message.endsWith(
        "spec.resources.limits[r98]: Invalid value: true: must be an integer or a string, " +
          `too many errors, the list is truncated: ${ENTRIES + 1 - 100} more not shown]`,
      ),
      st.message.slice(-300),
    );
  });

  test("a normal request right after is admitted", async () => {
    const { status, text } = await post(port, ca.certPem, JSON.stringify(fixture("create-redis-west")));
    assert.equal(status, 200);
    assert.deepEqual(JSON.parse(text), {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10", allowed: true },
    });
  });
});
