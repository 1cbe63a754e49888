import { describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { BODY_LIMIT_BYTES, MUTATE_PATH, VALIDATE_PATH } from "../../../webhook/server/app.ts";
import { testApp } from "../../support/app.ts";
import { fixture, type Json } from "../../support/fixtures.ts";
import { FakeSecrets } from "../../support/fake-secrets.ts";
import { mergePatch } from "../../support/clusters.ts";

const status = (code: number, reason: string, message: string) => ({
  apiVersion: "v1",
  kind: "Status",
  status: "Failure",
  code,
  reason,
  message,
});

describe("admission app: protocol", () => {
  test("validates a CREATE and echoes the uid", async () => {
    const { app } = testApp();
    const res = await request(app).post(VALIDATE_PATH).send(fixture("create-redis-west")).expect(200);
    assert.match(String(res.headers["content-type"]), /^application\/json/);
    assert.deepEqual(res.body, {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10", allowed: true },
    });
  });

  test("mutates a CREATE with a base64 JSON Patch", async () => {
    const { app } = testApp();
    const res = await request(app).post(MUTATE_PATH).send(fixture("create-redis-west")).expect(200);
    const response = (res.body as Json).response as Json;
    assert.equal(response.patchType, "JSONPatch");
    assert.deepEqual(JSON.parse(Buffer.from(String(response.patch), "base64").toString()), [
      { op: "add", path: "/spec/mode", value: "standalone" },
      { op: "add", path: "/spec/replicaMode/source/port", value: 6379 },
      { op: "add", path: "/spec/replicaMode/topology", value: "direct" },
    ]);
  });

  test("accepts a body just under the limit", async () => {
    const { app } = testApp();
    const body = fixture("create-redis-west");
    const object = (body.request as Json).object as Json;
    (object.metadata as Json).annotations = { big: "x".repeat(BODY_LIMIT_BYTES - 64 * 1024) };
    const res = await request(app).post(VALIDATE_PATH).send(body).expect(200);
    assert.equal(((res.body as Json).response as Json).allowed, true);
  });

  test("denies as 422 Invalid with every field error in the message and in details.causes", async () => {
    const { app } = testApp(new FakeSecrets());
    const body = fixture("create-redis-west");
    const req = body.request as Json;
    req.object = mergePatch(req.object, { spec: { replicaMode: { source: { port: 70000 } } } });
    const res = await request(app).post(VALIDATE_PATH).send(body).expect(200);
    const notFound = 'Not found: "redis-password": Secret "redis-password" not found in namespace "default"';
    assert.deepEqual(res.body, {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid: "3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10",
        allowed: false,
        status: {
          status: "Failure",
          code: 422,
          reason: "Invalid",
          message:
            'RedisCluster.redis.io "redis-west" is invalid: [spec.replicaMode.source.port: Invalid value: 70000: ' +
            `must be between 1 and 65535, spec.authSecret.name: ${notFound}, ` +
            `spec.replicaMode.source.authSecretName: ${notFound}]`,
          details: {
            name: "redis-west",
            group: "redis.io",
            kind: "RedisCluster",
            causes: [
              {
                reason: "FieldValueInvalid",
                message: "Invalid value: 70000: must be between 1 and 65535",
                field: "spec.replicaMode.source.port",
              },
              { reason: "FieldValueNotFound", message: notFound, field: "spec.authSecret.name" },
              {
                reason: "FieldValueNotFound",
                message: notFound,
                field: "spec.replicaMode.source.authSecretName",
              },
            ],
          },
        },
      },
    });
  });

  test("admits a promotion with the link down, with the warning in response.warnings", async () => {
    const { app } = testApp();
    const res = await request(app).post(VALIDATE_PATH).send(fixture("update-promote-redis-west")).expect(200);
    assert.deepEqual(res.body, {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid: "a1c7e0d2-9b3f-4f58-8e2d-6b4a0c9f1e37",
        allowed: true,
        warnings: [
          "spec.replicaMode.promote: replication link down for 184s; last known lag 11 bytes: unreplicated " +
            "writes are lost",
        ],
      },
    });
  });

  test("mutates without patch or patchType when every default is already set", async () => {
    const { app } = testApp();
    const res = await request(app).post(MUTATE_PATH).send(fixture("update-promote-redis-west")).expect(200);
    assert.deepEqual(res.body, {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "a1c7e0d2-9b3f-4f58-8e2d-6b4a0c9f1e37", allowed: true },
    });
  });

  for (const [operation, path] of [
    ["CONNECT", MUTATE_PATH],
    ["CONNECT", VALIDATE_PATH],
    ["DELETE", MUTATE_PATH],
    ["DELETE", VALIDATE_PATH],
  ] as const) {
    test(`allows ${operation} on ${path} untouched`, async () => {
      const secrets = new FakeSecrets();
      const { app } = testApp(secrets);
      const body = fixture("delete-redis-west");
      (body.request as Json).operation = operation;
      const res = await request(app).post(path).send(body).expect(200);
      assert.deepEqual(res.body, {
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: { uid: "c4e2f7a9-1d3b-4a6c-b8e0-5f7d9a1c3e25", allowed: true },
      });
      assert.deepEqual(secrets.lookups, []);
    });
  }

  test("counts every request by endpoint, operation and decision, including bodies refused unread", async () => {
    const { app, registry } = testApp();
    await request(app).post(VALIDATE_PATH).send(fixture("create-redis-west")).expect(200);
    await request(app).post(MUTATE_PATH).send(fixture("create-redis-west")).expect(200);
    await request(app).post(MUTATE_PATH).send(fixture("delete-redis-west")).expect(200);
    const denied = fixture("create-redis-west");
    (denied.request as Json).object = mergePatch((denied.request as Json).object, { spec: { instances: 0 } });
    await request(app).post(VALIDATE_PATH).send(denied).expect(200);
    // Refused by the app once the body is read: not an AdmissionReview, not JSON at all.
    await request(app).post(VALIDATE_PATH).send({ kind: "Pod" }).expect(400);
    await request(app).post(MUTATE_PATH).type("text/plain").send("kind: Pod").expect(415);
    // Refused while the body is read: malformed JSON, too large, a charset JSON cannot be in.
    await request(app).post(VALIDATE_PATH).type("json").send("{").expect(400);
    await request(app)
      .post(MUTATE_PATH)
      .type("json")
      .send(JSON.stringify({ pad: "x".repeat(BODY_LIMIT_BYTES) }))
      .expect(413);
    await request(app)
      .post(VALIDATE_PATH)
      .set("Content-Type", "application/json; charset=iso-8859-1")
      .send("{}")
      .expect(415);
    // Not an admission request: neither counted nor timed.
    await request(app).get(VALIDATE_PATH).expect(405);

    const text = await registry.metrics();
    const series = (name: string) =>
      text
        .split("\n")
        .filter((line) => line.startsWith(`${name}{`))
        .sort();
    assert.deepEqual(series("redis_dr_webhook_admission_requests_total"), [
      'redis_dr_webhook_admission_requests_total{endpoint="mutate",operation="CREATE",decision="patched"} 1',
      'redis_dr_webhook_admission_requests_total{endpoint="mutate",operation="DELETE",decision="allowed"} 1',
      'redis_dr_webhook_admission_requests_total{endpoint="mutate",operation="UNKNOWN",decision="rejected"} 2',
      'redis_dr_webhook_admission_requests_total{endpoint="validate",operation="CREATE",decision="allowed"} 1',
      'redis_dr_webhook_admission_requests_total{endpoint="validate",operation="CREATE",decision="denied"} 1',
      'redis_dr_webhook_admission_requests_total{endpoint="validate",operation="UNKNOWN",decision="rejected"} 3',
    ]);
    assert.deepEqual(series("redis_dr_webhook_errors_total"), [
      'redis_dr_webhook_errors_total{endpoint="mutate",kind="bad_request"} 2',
      'redis_dr_webhook_errors_total{endpoint="validate",kind="bad_request"} 3',
    ]);
    assert.deepEqual(series("redis_dr_webhook_admission_duration_seconds_count"), [
      'redis_dr_webhook_admission_duration_seconds_count{endpoint="mutate"} 4',
      'redis_dr_webhook_admission_duration_seconds_count{endpoint="validate"} 5',
    ]);
  });
});

describe("admission app: bad input gets a clear 4xx", () => {
  const body = (request: Json | undefined) => ({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    ...(request ? { request } : {}),
  });
  const jsonCases: { name: string; body: unknown; message: string }[] = [
    {
      name: "an empty object",
      body: {},
      message:
        'expected apiVersion "admission.k8s.io/v1" and kind "AdmissionReview", got apiVersion nothing and kind nothing',
    },
    {
      name: "another kind",
      body: { apiVersion: "v1", kind: "Pod" },
      message:
        'expected apiVersion "admission.k8s.io/v1" and kind "AdmissionReview", got apiVersion "v1" and kind "Pod"',
    },
    {
      name: "admission v1beta1",
      body: {
        apiVersion: "admission.k8s.io/v1beta1",
        kind: "AdmissionReview",
        request: { uid: "u", operation: "CREATE" },
      },
      message:
        'expected apiVersion "admission.k8s.io/v1" and kind "AdmissionReview", got apiVersion "admission.k8s.io/v1beta1" and kind "AdmissionReview"',
    },
    {
      name: "an array",
      body: [1, 2],
      message: "the body must be a JSON object: an admission.k8s.io/v1 AdmissionReview",
    },
    {
      name: "a JSON string",
      body: "hello",
      message: "the body must be a JSON object: an admission.k8s.io/v1 AdmissionReview",
    },
    {
      name: "JSON null",
      body: null,
      message: "the body must be a JSON object: an admission.k8s.io/v1 AdmissionReview",
    },
    { name: "no request", body: body(undefined), message: "the AdmissionReview has no request object" },
    {
      name: "a missing uid",
      body: body({ operation: "CREATE", object: {} }),
      message: "request.uid is missing: it must be a non-empty string",
    },
    {
      name: "an empty uid",
      body: body({ uid: "", operation: "CREATE" }),
      message: "request.uid is missing: it must be a non-empty string",
    },
    {
      name: "a numeric uid",
      body: body({ uid: 7, operation: "CREATE" }),
      message: "request.uid is missing: it must be a non-empty string",
    },
    {
      name: "an unknown operation",
      body: body({ uid: "u", operation: "PATCH" }),
      message: 'request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got "PATCH"',
    },
    {
      name: "a non-boolean dryRun",
      body: body({ uid: "u", operation: "CREATE", dryRun: "yes" }),
      message: "request.dryRun must be a boolean",
    },
  ];
  for (const c of jsonCases) {
    test(`400 for ${c.name}`, async () => {
      const { app } = testApp();
      const res = await request(app)
        .post(VALIDATE_PATH)
        .type("json")
        .send(JSON.stringify(c.body))
        .expect(400);
      assert.deepEqual(res.body, status(400, "BadRequest", c.message));
    });
  }

  test("400 for malformed JSON", async () => {
    const { app } = testApp();
    const res = await request(app)
      .post(MUTATE_PATH)
      .type("json")
      .send('{"apiVersion": "admission.k8s.io/v1",')
      .expect(400);
    assert.deepEqual(res.body, status(400, "BadRequest", "the body is not valid JSON"));
  });

  test("413 for a body over the limit", async () => {
    const { app } = testApp();
    const huge = JSON.stringify({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      pad: "x".repeat(BODY_LIMIT_BYTES),
    });
    const res = await request(app).post(VALIDATE_PATH).type("json").send(huge).expect(413);
    assert.deepEqual(
      res.body,
      status(413, "RequestEntityTooLarge", `the body is larger than ${BODY_LIMIT_BYTES} bytes`),
    );
  });

  test("415 for a body that is not JSON", async () => {
    const { app } = testApp();
    const res = await request(app)
      .post(VALIDATE_PATH)
      .type("text/plain")
      .send("apiVersion: admission.k8s.io/v1")
      .expect(415);
    assert.deepEqual(
      res.body,
      status(415, "UnsupportedMediaType", "the body must be an AdmissionReview sent as application/json"),
    );
  });

  test("415 for a request without a body or content type", async () => {
    const { app } = testApp();
    await request(app).post(MUTATE_PATH).expect(415);
  });

  test("415 for JSON in a charset other than UTF", async () => {
    const { app } = testApp();
    const res = await request(app)
      .post(VALIDATE_PATH)
      .set("Content-Type", "application/json; charset=iso-8859-1")
      .send(JSON.stringify(fixture("create-redis-west")))
      .expect(415);
    assert.deepEqual(res.body, status(415, "UnsupportedMediaType", 'unsupported charset "ISO-8859-1"'));
  });

  test("405 for another method on an admission path", async () => {
    const { app } = testApp();
    const res = await request(app).get(VALIDATE_PATH).expect(405);
    assert.equal(res.headers.allow, "POST");
  });

  test("404 for an unknown path", async () => {
    const { app } = testApp();
    const res = await request(app)
      .post("/validate-something-else")
      .send(fixture("create-redis-west"))
      .expect(404);
    assert.deepEqual(res.body, status(404, "NotFound", "no such endpoint"));
  });

  test("bad input is logged as a warning with the reason", async () => {
    const { app, logs } = testApp();
    await request(app).post(VALIDATE_PATH).send({ kind: "Pod" }).expect(400);
    const warning = logs.lines().find((l) => l.msg === "rejected an admission request");
    assert.equal(warning?.code, 400);
  });
});
