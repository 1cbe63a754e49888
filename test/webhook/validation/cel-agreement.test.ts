/**
 * The CRD carries the promote/revert decisions as CEL rules too (defence in depth when the webhook is down).
 * Both must decide alike: random old/new replicaMode states and promotion statuses are judged by the real
 * CEL rules of schemas/rediscluster.ts and by validatePromoteRevert.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { redisClusterSchema } from "../../../schemas/rediscluster.ts";
import { validateWithCel } from "../../../hack/cel/kubernetes-cel.ts";
import { FieldPath } from "../../../kube-common/field-path.ts";
import { validatePromoteRevert } from "../../../webhook/validation/rules/promote-revert.ts";
import { validateInstanceCounts } from "../../../webhook/validation/rules/instance-counts.ts";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { SOURCE, TOKEN, cluster } from "../../support/clusters.ts";

const json = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const replicaMode = maybe(
  fc.record({
    enabled: maybe(fc.boolean()),
    promote: maybe(fc.boolean()),
    source: maybe(fc.constant(SOURCE)),
    demotionToken: maybe(fc.constantFrom(TOKEN, "stale-token")),
  }),
);
const status = maybe(
  fc.record({ promotion: maybe(fc.record({ replicationId: maybe(fc.constantFrom(TOKEN, "")) })) }),
);
const state = fc
  .tuple(replicaMode, status)
  .map(([rm, st]) => json(cluster(rm === undefined ? {} : { replicaMode: rm }, st)) as RedisCluster);

const PROMOTE_REVERT_FIELDS = new Set(["spec.replicaMode.promote", "spec.replicaMode.enabled"]);
const celDenies = (object: RedisCluster, old?: RedisCluster) =>
  validateWithCel(redisClusterSchema, object, old).some((e) => PROMOTE_REVERT_FIELDS.has(e.field));
const root = FieldPath.root();

test("on UPDATE, validatePromoteRevert denies exactly what the CRD's CEL rules deny", () => {
  const seen = { denied: 0, allowed: 0 };
  fc.assert(
    fc.property(state, state, (old, next) => {
      // The API server keeps the stored status on a spec update (status subresource).
      const object = json({ ...next, status: old.status });
      const denied = celDenies(object, old);
      seen[denied ? "denied" : "allowed"] += 1;
      assert.equal(validatePromoteRevert(object, root, old).length > 0, denied);
    }),
    { numRuns: 2000 },
  );
  // Both outcomes were exercised, many times.
  assert.ok(seen.denied > 200 && seen.allowed > 200, JSON.stringify(seen));
});

test("on CREATE, it denies what CEL denies plus any promote: true", () => {
  fc.assert(
    fc.property(state, (object) => {
      const expected = celDenies(object) || object.spec.replicaMode?.promote === true;
      assert.equal(validatePromoteRevert(object, root).length > 0, expected);
    }),
    { numRuns: 500 },
  );
});

test("minSyncReplicas agrees with the CRD's CEL rule once instances is defaulted", () => {
  const counts = fc.record({
    instances: fc.integer({ min: 1, max: 6 }),
    minSyncReplicas: fc.integer({ min: 0, max: 8 }),
  });
  fc.assert(
    fc.property(counts, (spec) => {
      const object = json(cluster(spec));
      const cel = validateWithCel(redisClusterSchema, object, undefined).some(
        (e) => e.field === "spec.minSyncReplicas",
      );
      assert.equal(validateInstanceCounts(object, root).length > 0, cel);
    }),
    { numRuns: 300 },
  );
});
