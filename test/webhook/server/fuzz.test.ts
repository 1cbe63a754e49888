/**
 * Thousands of random and malformed AdmissionReviews against the real app over HTTP: no 5xx, no crash, every
 * answer well formed, every patch applicable, and no rule ever throws (no InternalError answers).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import jsonpatch from "fast-json-patch";
import { MUTATE_PATH, VALIDATE_PATH } from "../../../webhook/server/app.ts";
import { testApp } from "../../support/app.ts";
import { FakeSecrets } from "../../support/fake-secrets.ts";
import { TOKEN } from "../../support/clusters.ts";
import { fixture } from "../../support/fixtures.ts";

type Json = Record<string, unknown>;

const secrets = new FakeSecrets()
  .with("default", "redis-password", ["password"])
  .with("default", "redis-tls", ["tls.crt", "tls.key"])
  .failing("default", "forbidden-secret");
const { app } = testApp(secrets);
let server: Server;
let base = "";

before(async () => {
  server = await new Promise<Server>((resolve) => {
    const s = createServer(app).listen(0, "127.0.0.1", () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Either a plausible value for a field or anything at all. */
const or = <T>(plausible: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: plausible }, { weight: 1, arbitrary: fc.jsonValue() });
const partial = <T extends Json>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) =>
  fc.record(model, { requiredKeys: [] });

const source = or(
  partial({
    host: or(
      fc.constantFrom("35.123.45.67", "redis-west-leader", "redis.example.com", "bad host:1", "", "::1"),
    ),
    port: or(fc.oneof(fc.integer({ min: -5, max: 70000 }), fc.constant(6379))),
    clusterName: or(fc.string()),
    authSecretName: or(fc.constantFrom("redis-password", "missing", "forbidden-secret", "Bad_Name")),
  }),
);
const replicaMode = or(
  partial({
    enabled: or(fc.boolean()),
    promote: or(fc.boolean()),
    source,
    topology: or(fc.constantFrom("direct", "cascade", "ring")),
    demotionToken: or(fc.constantFrom(TOKEN, "wrong", "")),
  }),
);
const spec = or(
  partial({
    instances: or(fc.integer({ min: -2, max: 7 })),
    mode: or(fc.constantFrom("standalone", "sentinel", "cluster")),
    minSyncReplicas: or(fc.integer({ min: -1, max: 8 })),
    authSecret: or(partial({ name: or(fc.constantFrom("redis-password", "missing")) })),
    tlsSecret: or(partial({ name: or(fc.constantFrom("redis-tls", "forbidden-secret")) })),
    nodeSelector: or(fc.dictionary(fc.string(), fc.string())),
    storage: or(partial({ size: or(fc.constantFrom("1Gi", "100Gi", "lots")) })),
    replicaMode,
    unknownField: fc.jsonValue(),
  }),
);
const status = or(
  partial({
    promotion: or(
      partial({
        replicationId: or(fc.constantFrom(TOKEN, "")),
        phase: or(fc.constantFrom("Completed", "Promoting")),
      }),
    ),
    replication: or(
      partial({
        linkStatus: or(fc.constantFrom("Up", "Down", "Syncing", "Unknown")),
        lagBytes: or(fc.nat()),
        linkDownSeconds: or(fc.nat()),
      }),
    ),
  }),
);
const cluster = or(
  fc.record(
    {
      apiVersion: fc.constant("redis.io/v1"),
      kind: fc.constant("RedisCluster"),
      metadata: or(
        partial({ name: or(fc.constantFrom("redis-west", "")), namespace: or(fc.constant("default")) }),
      ),
      spec,
      status,
    },
    { requiredKeys: ["spec"] },
  ),
);
/** A request the API server could send: uid, operation and objects present, their contents random. */
const plausibleRequest = fc.record(
  {
    uid: fc.uuid(),
    kind: fc.constant({ group: "redis.io", version: "v1", kind: "RedisCluster" }),
    name: fc.constant("redis-west"),
    namespace: fc.constant("default"),
    operation: fc.constantFrom("CREATE", "UPDATE", "UPDATE", "DELETE", "CONNECT"),
    object: cluster,
    oldObject: cluster,
    dryRun: fc.boolean(),
  },
  { requiredKeys: ["uid", "operation", "object", "oldObject"] },
);
/** Anything at all in every field of the envelope. */
const brokenRequest = partial({
  uid: or(fc.uuid()),
  kind: or(fc.constant({ group: "redis.io", version: "v1", kind: "RedisCluster" })),
  name: or(fc.constant("redis-west")),
  namespace: or(fc.constant("default")),
  operation: or(fc.constantFrom("CREATE", "UPDATE", "DELETE", "CONNECT")),
  object: cluster,
  oldObject: cluster,
  dryRun: or(fc.boolean()),
});
const review = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      apiVersion: fc.constant("admission.k8s.io/v1"),
      kind: fc.constant("AdmissionReview"),
      request: plausibleRequest,
    }),
  },
  {
    weight: 2,
    arbitrary: partial({
      apiVersion: or(fc.constant("admission.k8s.io/v1")),
      kind: or(fc.constant("AdmissionReview")),
      request: or(brokenRequest),
    }),
  },
  { weight: 1, arbitrary: fc.jsonValue() },
);

/** The body as sent: mostly JSON of a (broken) review; sometimes truncated or arbitrary text. */
const body = fc.oneof(
  { weight: 8, arbitrary: review.map((r) => JSON.stringify(r)) },
  {
    weight: 1,
    arbitrary: review.chain((r) => {
      const text = JSON.stringify(r);
      return fc.nat({ max: text.length }).map((n) => text.slice(0, n));
    }),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary" }) },
);

/** Which kinds of answers a run produced, to show the fuzzing reaches deep into the rules. */
type Seen = Record<"rejected" | "allowed" | "patched" | "invalid" | "badRequest", number>;

function assertWellFormed(
  httpStatus: number,
  text: string,
  sent: string,
  endpoint: string,
  seen: Seen,
): void {
  assert.ok(httpStatus < 500, `HTTP ${httpStatus} for ${sent}: ${text}`);
  const answer = JSON.parse(text) as Json;
  if (httpStatus !== 200) {
    seen.rejected += 1;
    assert.equal(answer.kind, "Status");
    assert.equal(answer.code, httpStatus);
    assert.equal(typeof answer.message, "string");
    return;
  }
  assert.equal(answer.apiVersion, "admission.k8s.io/v1");
  assert.equal(answer.kind, "AdmissionReview");
  const response = answer.response as Json;
  const request = (JSON.parse(sent) as Json).request as Json;
  assert.equal(response.uid, request.uid);
  assert.equal(typeof response.allowed, "boolean");
  if (response.warnings !== undefined)
    assert.ok((response.warnings as unknown[]).every((w) => typeof w === "string"));
  if (response.allowed === false) {
    const st = response.status as Json;
    assert.ok(st.code === 400 || st.code === 422, `unexpected status ${JSON.stringify(st)} for ${sent}`);
    assert.equal(typeof st.message, "string");
    seen[st.code === 422 ? "invalid" : "badRequest"] += 1;
  } else {
    seen[response.patch === undefined ? "allowed" : "patched"] += 1;
  }
  if (response.patch !== undefined) {
    assert.equal(endpoint, MUTATE_PATH);
    assert.equal(response.patchType, "JSONPatch");
    const ops = JSON.parse(Buffer.from(String(response.patch), "base64").toString()) as jsonpatch.Operation[];
    // The patch applies cleanly to the object it was computed from.
    jsonpatch.applyPatch(structuredClone(request.object), ops, true);
  }
}

describe("fuzzing the admission app", () => {
  for (const endpoint of [MUTATE_PATH, VALIDATE_PATH]) {
    test(`${endpoint}: random and malformed reviews get well-formed answers, never a 5xx`, async () => {
      const seen: Seen = { rejected: 0, allowed: 0, patched: 0, invalid: 0, badRequest: 0 };
      await fc.assert(
        fc.asyncProperty(body, async (sent) => {
          const res = await fetch(`${base}${endpoint}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: sent,
          });
          assertWellFormed(res.status, await res.text(), sent, endpoint, seen);
        }),
        { numRuns: 1500 },
      );
      const expected: (keyof Seen)[] =
        endpoint === MUTATE_PATH
          ? ["rejected", "allowed", "patched", "badRequest"]
          : ["rejected", "allowed", "invalid", "badRequest"];
      for (const kind of expected)
        assert.ok(seen[kind] >= 20, `too few ${kind} answers: ${JSON.stringify(seen)}`);
    });
  }

  test("the server still answers a valid review afterwards", async () => {
    const res = await fetch(`${base}${VALIDATE_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: { uid: "after-fuzz", operation: "DELETE" },
      }),
    });
    assert.deepEqual(await res.json(), {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "after-fuzz", allowed: true },
    });
  });

  describe("hostile shapes: each answered with a bounded, correct answer", () => {
    const ADMIN = { username: "kubernetes-admin", groups: ["system:masters", "system:authenticated"] };
    /** A CREATE (or with `old`, an UPDATE) of redis-west whose spec is `spec`, sent as the raw JSON text. */
    const reviewText = (specJson: string, oldSpecJson?: string, statusJson?: string) => {
      const object = (specText: string, withStatus = false) =>
        `{"apiVersion":"redis.io/v1","kind":"RedisCluster","metadata":{"name":"redis-west","namespace":"default"},` +
        `"spec":${specText}${withStatus && statusJson ? `,"status":${statusJson}` : ""}}`;
      const request =
        `{"uid":"hostile","kind":{"group":"redis.io","version":"v1","kind":"RedisCluster"},"name":"redis-west",` +
        `"namespace":"default","operation":"${oldSpecJson === undefined ? "CREATE" : "UPDATE"}",` +
        `"userInfo":${JSON.stringify(ADMIN)},"object":${object(specJson)}` +
        (oldSpecJson === undefined ? "" : `,"oldObject":${object(oldSpecJson, true)}`) +
        "}";
      return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${request}}`;
    };
    const send = async (endpoint: string, text: string) => {
      const res = await fetch(`${base}${endpoint}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: text,
      });
      const answer = await res.text();
      return { status: res.status, size: answer.length, json: JSON.parse(answer) as Json };
    };
    const responseOf = (json: Json) =>
      json.response as {
        allowed: boolean;
        patch?: string;
        status?: { code: number; message: string; details?: { causes: unknown[] } };
      };
    const deep = (depth: number, leaf = "1") => "[".repeat(depth) + leaf + "]".repeat(depth);
    const manyEntries = (n: number, value: (i: number) => string) =>
      `{${Array.from({ length: n }, (_, i) => `"k${i}":${value(i)}`).join(",")}}`;
    const auth = '"authSecret":{"name":"redis-password"}';

    test("a map of 100k valid labels: one error, the schema's bound", async () => {
      const { status, size, json } = await send(
        VALIDATE_PATH,
        reviewText(`{${auth},"nodeSelector":${manyEntries(100_000, (i) => `"v${i}"`)}}`),
      );
      assert.equal(status, 200);
      assert.ok(size < 1_000, `${size} bytes`);
      assert.equal(
        responseOf(json).status?.message,
        'RedisCluster.redis.io "redis-west" is invalid: spec.nodeSelector: Too many: 100000: must have at most 64 items',
      );
    });

    test("a map of 100k invalid quantities: 100 errors and the count of the rest", async () => {
      const { size, json } = await send(
        VALIDATE_PATH,
        reviewText(`{${auth},"resources":{"requests":${manyEntries(100_000, () => "true")}}}`),
      );
      const st = responseOf(json).status;
      assert.ok(size < 40_000, `${size} bytes`);
      assert.equal(st?.details?.causes.length, 100);
      assert.match(
        st?.message ?? "",
        /^RedisCluster.redis.io "redis-west" is invalid: \[spec.resources.requests: Too many: 100000: must have at most 16 items, spec.resources.requests\[k0\]: Invalid value: true: must be an integer or a string, .*, too many errors, the list is truncated: 99901 more not shown\]$/,
      );
    });

    test("a list of 200k conditions missing every required field", async () => {
      const conditions = `[${Array.from({ length: 200_000 }, () => "{}").join(",")}]`;
      const text = reviewText(`{${auth}}`).replace(
        '"spec":{',
        `"status":{"conditions":${conditions}},"spec":{`,
      );
      const { size, json } = await send(VALIDATE_PATH, text);
      const st = responseOf(json).status;
      assert.ok(size < 40_000, `${size} bytes`);
      assert.equal(st?.details?.causes.length, 100);
      assert.match(
        st?.message ?? "",
        /^RedisCluster.redis.io "redis-west" is invalid: \[status.conditions\[0\].type: Required value, /,
      );
      assert.match(st?.message ?? "", /the list is truncated: 999900 more not shown\]$/);
    });

    test("a spec that is a list of a million numbers", async () => {
      const { size, json } = await send(
        VALIDATE_PATH,
        reviewText(`[${Array.from({ length: 1_000_000 }, (_, i) => i % 10).join(",")}]`),
      );
      assert.ok(size < 2_000, `${size} bytes`);
      assert.match(
        responseOf(json).status?.message ?? "",
        /^RedisCluster.redis.io "redis-west" is invalid: spec: Invalid value: \[0,1,2,3,4,5,6,7,8,9,0,1,[0-9,]*\.\.\.: must be of type object$/,
      );
    });

    for (const endpoint of [MUTATE_PATH, VALIDATE_PATH]) {
      test(`${endpoint}: values nested 100k levels deep, where a string belongs, in unknown fields and in a revert`, async () => {
        const promoted = `{"enabled":true,"promote":true,"source":{"host":"35.123.45.67"}}`;
        const completed = `{"promotion":{"phase":"Completed","replicationId":"${TOKEN}"}}`;
        for (const text of [
          reviewText(`{${auth},"image":${deep(100_000)}}`),
          reviewText(`{${auth},"unknown":${deep(100_000)},"storage":{"size":"1Gi","x":${deep(100_000)}}}`),
          reviewText(
            `{${auth},"unknown":${deep(100_000)},"replicaMode":{"enabled":true,"source":{"host":"35.123.45.67"}}}`,
            `{${auth},"unknown":${deep(100_000, "2")},"replicaMode":${promoted}}`,
            completed,
          ),
        ]) {
          const { status, size, json } = await send(endpoint, text);
          assert.equal(status, 200);
          assert.ok(size < 4_000, `${size} bytes`);
          const response = responseOf(json);
          assert.notEqual(response.status?.code, 500, response.status?.message);
        }
      });
    }

    test("__proto__, constructor and prototype keys are data, and pollute nothing", async () => {
      const keys = '{"__proto__":"a","constructor":"b","prototype":"c"}';
      const admitted = await send(
        VALIDATE_PATH,
        reviewText(
          `{${auth},"nodeSelector":${keys},"__proto__":{"instances":-5},"constructor":{"prototype":{"x":1}}}`,
        ),
      );
      assert.equal(responseOf(admitted.json).allowed, true, JSON.stringify(admitted.json));
      const refused = await send(
        VALIDATE_PATH,
        reviewText(`{${auth},"resources":{"limits":{"__proto__":"lots","constructor":"1Gi"}}}`),
      );
      assert.equal(
        responseOf(refused.json).status?.message,
        'RedisCluster.redis.io "redis-west" is invalid: spec.resources.limits[__proto__]: Invalid value: "lots": ' +
          "must be a quantity such as 100Gi, 512Mi or 500m",
      );
      // The mutating endpoint defaults what is missing, and the __proto__ key did not hide anything.
      const mutated = await send(MUTATE_PATH, reviewText(`{"__proto__":{"mode":"sentinel"}}`));
      const ops = JSON.parse(Buffer.from(String(responseOf(mutated.json).patch), "base64").toString()) as {
        path: string;
      }[];
      assert.ok(
        ops.some((op) => op.path === "/spec/mode"),
        JSON.stringify(ops),
      );
      // A revert's suggested command keeps such keys as data.
      const revert = await send(
        MUTATE_PATH,
        reviewText(
          `{"replicaMode":{"__proto__":{"a":1},"enabled":true,"source":{"host":"35.123.45.67"}}}`,
          `{"replicaMode":{"enabled":true,"promote":true,"source":{"host":"35.123.45.67"}}}`,
          `{"promotion":{"phase":"Completed","replicationId":"${TOKEN}"}}`,
        ),
      );
      assert.match(responseOf(revert.json).status?.message ?? "", /"__proto__":\{"a":1\}/);
      for (const probe of [{}, [], Object.create(Object.prototype) as object]) {
        for (const key of ["instances", "mode", "a", "x", "prototype"]) {
          assert.equal((probe as Record<string, unknown>)[key], undefined, key);
        }
      }
    });

    test("a normal review is still admitted after all of them", async () => {
      const { json } = await send(VALIDATE_PATH, JSON.stringify(fixture("create-redis-west")));
      assert.equal(responseOf(json).allowed, true);
    });
  });
});
