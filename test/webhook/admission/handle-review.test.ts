import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { handleReview } from "../../../webhook/admission/handle-review.ts";
import { mutateCluster, validateCluster, type Admit } from "../../../webhook/admission/admit.ts";
import { parseAdmissionReview } from "../../../webhook/admission/review.ts";
import type { AdmissionReviewRequest, JsonPatchOperation } from "../../../webhook/admission/types.ts";
import { FakeAccess } from "../../support/fake-access.ts";
import { FakeSecrets } from "../../support/fake-secrets.ts";
import { captureLogs } from "../../support/logs.ts";
import { fixture, type Json } from "../../support/fixtures.ts";
import { TOKEN, mergePatch } from "../../support/clusters.ts";

function review(body: Json): AdmissionReviewRequest {
  const parsed = parseAdmissionReview(body);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.review;
}

const withPassword = () => new FakeSecrets().with("default", "redis-password", ["password"]);

const decodePatch = (patch: string | undefined): JsonPatchOperation[] =>
  JSON.parse(Buffer.from(patch ?? "", "base64").toString("utf8")) as JsonPatchOperation[];

describe("handleReview: mutate", () => {
  test("fills the source port, mode and topology of the reference's DR cluster", async () => {
    const { logger } = captureLogs();
    const answer = await handleReview(review(fixture("create-redis-west")), { admit: mutateCluster, logger });
    assert.equal(answer.apiVersion, "admission.k8s.io/v1");
    assert.equal(answer.kind, "AdmissionReview");
    assert.equal(answer.response.uid, "3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10");
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patchType, "JSONPatch");
    assert.deepEqual(decodePatch(answer.response.patch), [
      { op: "add", path: "/spec/mode", value: "standalone" },
      { op: "add", path: "/spec/replicaMode/source/port", value: 6379 },
      { op: "add", path: "/spec/replicaMode/topology", value: "direct" },
    ]);
  });

  test("sends no patch at all when nothing is missing", async () => {
    const { logger } = captureLogs();
    const answer = await handleReview(review(fixture("update-promote-redis-west")), {
      admit: mutateCluster,
      logger,
    });
    assert.deepEqual(answer.response, { uid: "a1c7e0d2-9b3f-4f58-8e2d-6b4a0c9f1e37", allowed: true });
  });
});

describe("handleReview: mutate runs the promote/revert guard first", () => {
  // The API server runs the CRD's CEL rules between the mutating and the validating webhooks; the mutating
  // endpoint answers a revert first so the user gets the exact command, which CEL cannot print.
  const revert = (replicaMode: Json) => {
    const body = fixture("update-promote-redis-west");
    const request = body.request as Json;
    request.oldObject = mergePatch(request.object, { status: { promotion: { replicationId: TOKEN } } });
    request.object = mergePatch(request.oldObject, { spec: { replicaMode } });
    return body;
  };

  test("denies reverting a completed promotion without the token, with the command", async () => {
    const { logger } = captureLogs();
    const answer = await handleReview(review(revert({ promote: null })), { admit: mutateCluster, logger });
    assert.equal(answer.response.allowed, false);
    assert.equal(answer.response.status?.code, 422);
    assert.match(
      answer.response.status?.message ?? "",
      new RegExp(`-p '\\{"spec":\\{"replicaMode":\\{"promote":false,"demotionToken":"${TOKEN}"\\}\\}\\}'$`),
    );
  });

  test("lets the confirmed revert through, with its defaults", async () => {
    const { logger } = captureLogs();
    const body = revert({ promote: false, demotionToken: TOKEN, topology: null });
    const answer = await handleReview(review(body), { admit: mutateCluster, logger });
    assert.equal(answer.response.allowed, true);
    assert.deepEqual(decodePatch(answer.response.patch), [
      { op: "add", path: "/spec/replicaMode/topology", value: "direct" },
    ]);
  });
});

describe("handleReview: validate", () => {
  test("admits the reference's DR cluster when its Secret exists", async () => {
    const { logger } = captureLogs();
    const secrets = withPassword();
    const answer = await handleReview(review(fixture("create-redis-west")), {
      admit: validateCluster({ secrets, access: FakeAccess.allowingAll() }),
      logger,
    });
    assert.deepEqual(answer.response, { uid: "3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10", allowed: true });
    // authSecret and the source's authSecretName name the same Secret: one get.
    assert.deepEqual(secrets.lookups, ["default/redis-password"]);
  });

  test("denies a CREATE naming a missing Secret, as 422 Invalid with every cause", async () => {
    const { logger } = captureLogs();
    const body = fixture("create-redis-west");
    const request = body.request as Json;
    request.object = mergePatch(request.object, { spec: { replicaMode: { source: { port: 70000 } } } });
    const answer = await handleReview(review(body), {
      admit: validateCluster({ secrets: new FakeSecrets(), access: FakeAccess.allowingAll() }),
      logger,
    });
    assert.deepEqual(answer.response, {
      uid: "3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10",
      allowed: false,
      status: {
        status: "Failure",
        code: 422,
        reason: "Invalid",
        message:
          'RedisCluster.redis.io "redis-west" is invalid: [spec.replicaMode.source.port: Invalid value: 70000: must ' +
          'be between 1 and 65535, spec.authSecret.name: Not found: "redis-password": Secret "redis-password" not ' +
          'found in namespace "default", spec.replicaMode.source.authSecretName: Not found: "redis-password": ' +
          'Secret "redis-password" not found in namespace "default"]',
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
            {
              reason: "FieldValueNotFound",
              message:
                'Not found: "redis-password": Secret "redis-password" not found in namespace "default"',
              field: "spec.authSecret.name",
            },
            {
              reason: "FieldValueNotFound",
              message:
                'Not found: "redis-password": Secret "redis-password" not found in namespace "default"',
              field: "spec.replicaMode.source.authSecretName",
            },
          ],
        },
      },
    });
  });

  test("admits a promotion during an outage with its Secret gone, warning with the known lag", async () => {
    const { logger } = captureLogs();
    const secrets = new FakeSecrets();
    const answer = await handleReview(review(fixture("update-promote-redis-west")), {
      admit: validateCluster({ secrets, access: FakeAccess.allowingAll() }),
      logger,
    });
    assert.deepEqual(answer.response, {
      uid: "a1c7e0d2-9b3f-4f58-8e2d-6b4a0c9f1e37",
      allowed: true,
      warnings: [
        "spec.replicaMode.promote: replication link down for 184s; last known lag 11 bytes: unreplicated writes are lost",
      ],
    });
    assert.deepEqual(secrets.lookups, []);
  });

  test("denies reverting a completed promotion with the command carrying the token", async () => {
    const { logger } = captureLogs();
    const body = fixture("update-promote-redis-west");
    const request = body.request as Json;
    const promotedState = {
      spec: { replicaMode: { promote: true } },
      status: { promotion: { replicationId: TOKEN } },
    };
    request.oldObject = mergePatch(request.object, promotedState);
    request.object = mergePatch(request.oldObject, { spec: { replicaMode: { promote: false } } });
    const answer = await handleReview(review(body), {
      admit: validateCluster({ secrets: withPassword(), access: FakeAccess.allowingAll() }),
      logger,
    });
    assert.equal(answer.response.allowed, false);
    assert.equal(
      answer.response.status?.message,
      'RedisCluster.redis.io "redis-west" is invalid: spec.replicaMode.promote: Forbidden: reverting a completed ' +
        "promotion discards every write made since the promotion; to confirm, set spec.replicaMode.demotionToken " +
        `to "${TOKEN}" in the same request, e.g. kubectl patch rediscluster redis-west -n default --type=merge ` +
        `-p '{"spec":{"replicaMode":{"promote":false,"demotionToken":"${TOKEN}"}}}'`,
    );
  });

  test("answers a dry run exactly like the real request", async () => {
    const { logger } = captureLogs();
    for (const name of ["create-redis-west", "update-promote-redis-west"]) {
      for (const admit of [
        mutateCluster,
        validateCluster({ secrets: new FakeSecrets(), access: FakeAccess.allowingAll() }),
      ]) {
        const real = fixture(name);
        const dry = fixture(name);
        (dry.request as Json).dryRun = true;
        assert.deepEqual(
          await handleReview(review(dry), { admit, logger }),
          await handleReview(review(real), { admit, logger }),
        );
      }
    }
  });

  test("denies a request whose object is missing or not an object with 400 BadRequest", async () => {
    const { logger } = captureLogs();
    const body = fixture("create-redis-west");
    (body.request as Json).object = "not an object";
    const answer = await handleReview(review(body), {
      admit: validateCluster({ secrets: new FakeSecrets(), access: FakeAccess.allowingAll() }),
      logger,
    });
    assert.deepEqual(answer.response.status, {
      status: "Failure",
      code: 400,
      reason: "BadRequest",
      message: "request.object must be a JSON object on CREATE",
    });
  });

  test("denies an UPDATE without oldObject with 400 BadRequest", async () => {
    const { logger } = captureLogs();
    const body = fixture("update-promote-redis-west");
    delete (body.request as Json).oldObject;
    const answer = await handleReview(review(body), {
      admit: validateCluster({ secrets: new FakeSecrets(), access: FakeAccess.allowingAll() }),
      logger,
    });
    assert.equal(answer.response.status?.message, "request.oldObject must be a JSON object on UPDATE");
  });

  test("denies another kind of object with 400 BadRequest", async () => {
    const { logger } = captureLogs();
    const body = fixture("create-redis-west");
    (body.request as Json).kind = { group: "", version: "v1", kind: "Secret" };
    const answer = await handleReview(review(body), { admit: mutateCluster, logger });
    assert.equal(answer.response.allowed, false);
    assert.equal(
      answer.response.status?.message,
      "this webhook admits RedisCluster.redis.io only, got Secret.",
    );
  });
});

describe("handleReview: envelope", () => {
  test("allows DELETE untouched, without calling the endpoint", async () => {
    const { logger } = captureLogs();
    const admit: Admit = () => Promise.reject(new Error("must not be called"));
    const answer = await handleReview(review(fixture("delete-redis-west")), { admit, logger });
    assert.deepEqual(answer, {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "c4e2f7a9-1d3b-4a6c-b8e0-5f7d9a1c3e25", allowed: true },
    });
  });

  test("allows CONNECT untouched", async () => {
    const { logger } = captureLogs();
    const body = fixture("delete-redis-west");
    (body.request as Json).operation = "CONNECT";
    const answer = await handleReview(review(body), { admit: () => Promise.reject(new Error("no")), logger });
    assert.deepEqual(answer.response, { uid: "c4e2f7a9-1d3b-4a6c-b8e0-5f7d9a1c3e25", allowed: true });
  });

  test("answers an unexpected error generically, and logs it with the error object and the uid", async () => {
    const logs = captureLogs();
    const admit: Admit = () => Promise.reject(new TypeError("boom: internal detail"));
    const answer = await handleReview(review(fixture("create-redis-west")), { admit, logger: logs.logger });
    assert.deepEqual(answer.response, {
      uid: "3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10",
      allowed: false,
      status: {
        status: "Failure",
        code: 500,
        reason: "InternalError",
        message:
          "the redis-dr webhook failed unexpectedly while admitting this request; see its logs " +
          "(uid 3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10)",
      },
    });
    const failure = logs.lines().find((line) => line.msg === "admission failed unexpectedly");
    assert.equal(failure?.uid, "3f9d1b8e-2c4a-4e7b-9a61-0d5c8e2f7a10");
    const err = failure?.err as Json | undefined;
    assert.equal(err?.type, "TypeError");
    assert.equal(err?.message, "boom: internal detail");
  });

  test("logs each decision with the request's uid, operation and dry-run flag", async () => {
    const logs = captureLogs();
    await handleReview(review(fixture("update-promote-redis-west")), {
      admit: validateCluster({ secrets: new FakeSecrets(), access: FakeAccess.allowingAll() }),
      logger: logs.logger,
    });
    const decision = logs.lines().find((line) => line.msg === "admitted");
    assert.equal(decision?.uid, "a1c7e0d2-9b3f-4f58-8e2d-6b4a0c9f1e37");
    assert.equal(decision?.operation, "UPDATE");
    assert.equal(decision?.dryRun, false);
    assert.equal(decision?.namespace, "default");
    assert.equal(decision?.name, "redis-west");
  });

  test("logs routine admissions at debug, and warnings and denials at info", async () => {
    const logs = captureLogs();
    const admit = validateCluster({ secrets: withPassword(), access: FakeAccess.allowingAll() });
    await handleReview(review(fixture("create-redis-west")), { admit, logger: logs.logger });
    await handleReview(review(fixture("update-promote-redis-west")), { admit, logger: logs.logger });
    await handleReview(review(fixture("create-redis-west")), {
      admit: validateCluster({ secrets: new FakeSecrets(), access: FakeAccess.allowingAll() }),
      logger: logs.logger,
    });
    const levels = logs
      .lines()
      .map((line) => [line.msg, line.level, (line.warnings as unknown[] | undefined)?.length ?? 0]);
    assert.deepEqual(levels, [
      ["admitted", 20, 0],
      ["admitted", 30, 1],
      ["denied", 30, 0],
    ]);
  });
});
