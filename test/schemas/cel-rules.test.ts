import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { compileRule, validateWithCel } from "../../hack/cel/kubernetes-cel.ts";
import { formatFieldError as formatApiServerError } from "../../hack/sandbox/api/field-errors.ts";
import {
  NAME_NAMES_OWNED_OBJECTS,
  REPLICATION_ID_KEPT,
  STORAGE_IMMUTABLE,
  redisClusterSchema,
  type CelRule,
  type SchemaNode,
} from "../../schemas/rediscluster.ts";
import { formatFieldError } from "../../kube-common/field-errors.ts";
import { FieldPath } from "../../kube-common/field-path.ts";
import { validateClusterName } from "../../webhook/validation/rules/cluster-name.ts";
import { validateReplicaSource } from "../../webhook/validation/rules/replica-source.ts";
import { validateStorageUnchanged } from "../../webhook/validation/rules/storage-unchanged.ts";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";

type Json = Record<string, unknown>;

/** RFC 7386 JSON merge patch, as `kubectl patch --type=merge` sends it: null deletes a field. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Json =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

const SOURCE = { host: "35.123.45.67", port: 6379, clusterName: "redis-east" };

function cluster(spec: Json, status?: Json): Json {
  return {
    apiVersion: "redis.io/v1",
    kind: "RedisCluster",
    metadata: { name: "redis-west", namespace: "default" },
    spec: { instances: 3, storage: { size: "1Gi" }, ...spec },
    ...(status ? { status } : {}),
  };
}

const replicating = cluster({ replicaMode: { enabled: true, source: SOURCE } });
const promoted = cluster(
  { replicaMode: { enabled: true, source: SOURCE, promote: true } },
  { promotion: { phase: "Completed", replicationId: "8c1f9e6a0b" } },
);
const promotionPending = cluster(
  { replicaMode: { enabled: true, source: SOURCE, promote: true } },
  { promotion: { phase: "CatchingUp", requestedAt: "2026-11-23T10:00:00Z" } },
);
/** A promoted cluster whose owner removed replicaMode from Git afterwards: still the promoted history. */
const promotedCleanedUp = cluster({}, { promotion: { phase: "Completed", replicationId: "8c1f9e6a0b" } });
const standalone = cluster({});

/** The rules' errors as the API server prints them. */
const errorsOf = (object: unknown, old?: unknown) =>
  validateWithCel(redisClusterSchema, object, old).map(formatApiServerError);

const REVERT_DENIED =
  "spec.replicaMode.promote: Forbidden: reverting a completed promotion discards every write made since; to " +
  'confirm, set spec.replicaMode.demotionToken to "8c1f9e6a0b" in the same request';
const TURN_OFF_DENIED =
  "spec.replicaMode.enabled: Forbidden: cannot turn replica mode off while replicating: promote first " +
  "(spec.replicaMode.promote: true)";
const PROMOTE_NEEDS_SOURCE =
  "spec.replicaMode.promote: Forbidden: promote requires enabled: true and a source";
const ENABLED_NEEDS_SOURCE =
  "spec.replicaMode.source.host: Required value: replica mode (enabled: true) needs the source's host";

function rulesOf(node: SchemaNode): CelRule[] {
  return [
    ...(node["x-kubernetes-validations"] ?? []),
    ...Object.values(node.properties ?? {}).flatMap(rulesOf),
    ...(node.items ? rulesOf(node.items) : []),
  ];
}

test("every CEL rule and message expression of the schema parses", () => {
  const rules = rulesOf(redisClusterSchema);
  assert.equal(rules.length, 11);
  for (const rule of rules) {
    assert.doesNotThrow(() => compileRule(rule.rule), rule.rule);
    if (rule.messageExpression) assert.doesNotThrow(() => compileRule(rule.messageExpression as string));
  }
  assert.throws(() => compileRule("self.a &&"), /does not parse/);
});

describe("on create", () => {
  const cases: [string, Json, string[]][] = [
    ["accepts a replicating cluster", replicating, []],
    ["accepts promote with enabled and a source", promoted, []],
    [
      "refuses promote without enabled",
      cluster({ replicaMode: { source: SOURCE, promote: true } }),
      [PROMOTE_NEEDS_SOURCE],
    ],
    [
      "refuses promote with enabled false",
      cluster({ replicaMode: { enabled: false, source: SOURCE, promote: true } }),
      [PROMOTE_NEEDS_SOURCE],
    ],
    [
      "refuses promote without a source",
      cluster({ replicaMode: { enabled: true, promote: true } }),
      [ENABLED_NEEDS_SOURCE, PROMOTE_NEEDS_SOURCE],
    ],
    ["refuses enabled without a source", cluster({ replicaMode: { enabled: true } }), [ENABLED_NEEDS_SOURCE]],
    [
      "refuses enabled without a source, whatever else replicaMode holds",
      cluster({ replicaMode: { enabled: true, topology: "cascade" } }),
      [ENABLED_NEEDS_SOURCE],
    ],
    ["accepts enabled: false without a source", cluster({ replicaMode: { enabled: false } }), []],
    ["accepts replicaMode without enabled or a source", cluster({ replicaMode: { topology: "direct" } }), []],
    [
      "accepts a source while replica mode is off (prepared for later)",
      cluster({ replicaMode: { enabled: false, source: SOURCE } }),
      [],
    ],
    [
      "accepts promoteBy: Handoff with promote: true and a handoffAddress",
      cluster({
        replicaMode: {
          enabled: true,
          source: SOURCE,
          promote: true,
          promoteBy: "Handoff",
          handoffAddress: { host: "a.example" },
        },
      }),
      [],
    ],
    [
      "refuses promoteBy: Handoff without promote: true or a handoffAddress",
      cluster({ replicaMode: { enabled: true, source: SOURCE, promoteBy: "Handoff" } }),
      [
        "spec.replicaMode.handoffAddress: Required value: promoteBy: Handoff needs handoffAddress: the address " +
          "the source's region reaches the leader at",
        "spec.replicaMode.promoteBy: Invalid value: promoteBy: Handoff needs promote: true",
      ],
    ],
    [
      "refuses joinBy: Handoff with promote: true",
      cluster({ replicaMode: { enabled: true, source: SOURCE, promote: true, joinBy: "Handoff" } }),
      [
        "spec.replicaMode.joinBy: Invalid value: joinBy: Handoff makes this cluster a replica of its source: it " +
          "cannot be set with promote: true",
      ],
    ],
    ["accepts minSyncReplicas of instances - 1", cluster({ minSyncReplicas: 2 }), []],
    [
      "refuses minSyncReplicas equal to instances",
      cluster({ minSyncReplicas: 3 }),
      // The rule sits on spec, an object: 1.37 leaves the value out.
      ["spec.minSyncReplicas: Invalid value: minSyncReplicas must be at most instances - 1"],
    ],
  ];
  for (const [name, object, expected] of cases) {
    test(name, () => assert.deepEqual(errorsOf(object), expected));
  }
});

describe("on update (transition rules)", () => {
  const cases: [string, Json, unknown, string[]][] = [
    [
      "refuses promote: false after a completed promotion",
      promoted,
      { spec: { replicaMode: { promote: false } } },
      [REVERT_DENIED],
    ],
    [
      "refuses a merge patch that deletes promote",
      promoted,
      { spec: { replicaMode: { promote: null } } },
      [REVERT_DENIED],
    ],
    [
      "accepts the revert with the demotion token",
      promoted,
      { spec: { replicaMode: { promote: false, demotionToken: "8c1f9e6a0b" } } },
      [],
    ],
    [
      "refuses the revert with a wrong token",
      promoted,
      { spec: { replicaMode: { promote: false, demotionToken: "0000000000" } } },
      [REVERT_DENIED],
    ],
    [
      "refuses re-enabling replica mode after a promotion was cleaned up",
      promotedCleanedUp,
      { spec: { replicaMode: { enabled: true, source: SOURCE } } },
      [REVERT_DENIED],
    ],
    [
      "accepts re-enabling replica mode after a cleaned-up promotion with the token",
      promotedCleanedUp,
      { spec: { replicaMode: { enabled: true, source: SOURCE, demotionToken: "8c1f9e6a0b" } } },
      [],
    ],
    [
      "accepts reverting a promotion that never completed",
      promotionPending,
      { spec: { replicaMode: { promote: false } } },
      [],
    ],
    [
      "accepts removing replicaMode from a promoted cluster (it stays standalone)",
      promoted,
      { spec: { replicaMode: null } },
      [],
    ],
    [
      "accepts enabled: false on a promoted cluster",
      promoted,
      { spec: { replicaMode: { enabled: false, promote: false } } },
      [],
    ],
    ["accepts an unrelated change to a promoted cluster", promoted, { spec: { instances: 5 } }, []],
    [
      "refuses enabled: false while replicating",
      replicating,
      { spec: { replicaMode: { enabled: false } } },
      [TURN_OFF_DENIED],
    ],
    [
      "refuses removing replicaMode while replicating",
      replicating,
      { spec: { replicaMode: null } },
      [TURN_OFF_DENIED],
    ],
    [
      "refuses a merge patch that deletes the source while replicating",
      replicating,
      { spec: { replicaMode: { source: null } } },
      [ENABLED_NEEDS_SOURCE],
    ],
    [
      "accepts promoting a replicating cluster",
      replicating,
      { spec: { replicaMode: { promote: true } } },
      [],
    ],
    [
      "accepts a never-promoted standalone cluster enabling replica mode (failback)",
      standalone,
      { spec: { replicaMode: { enabled: true, source: SOURCE } } },
      [],
    ],
  ];
  for (const [name, old, patch, expected] of cases) {
    test(name, () => {
      const updated = mergePatch(old, patch);
      assert.deepEqual(errorsOf(updated, old), expected);
    });
  }

  test("transition rules do not run on create", () => {
    assert.deepEqual(errorsOf(mergePatch(promoted, { spec: { replicaMode: { promote: false } } })), []);
  });
});

test("the enabled-needs-a-source rule reads word for word like the webhook's", () => {
  const object = cluster({ replicaMode: { enabled: true } });
  const webhook = validateReplicaSource(object as unknown as RedisCluster, FieldPath.root());
  assert.deepEqual(webhook.map(formatFieldError), [ENABLED_NEEDS_SOURCE]);
  assert.deepEqual(errorsOf(object), webhook.map(formatFieldError));
});

describe("the name rule", () => {
  const named = (name: string): Json => ({ ...cluster({}), metadata: { name, namespace: "default" } });
  // The rule sits on the root, an object: Kubernetes leaves the value out where the webhook prints the name.
  const REFUSED = `metadata.name: Invalid value: ${NAME_NAMES_OWNED_OBJECTS}`;
  const cases: [string, string, string[]][] = [
    ["accepts 52 characters", "a".repeat(52), []],
    ["accepts a name with digits and dashes inside", "redis-west-2", []],
    ["refuses 53 characters", "a".repeat(53), [REFUSED]],
    ["refuses 55 characters", `redis-${"x".repeat(49)}`, [REFUSED]],
    ["refuses a leading digit and a dot", "1abc.def", [REFUSED]],
    ["refuses a dot (a subdomain is not a Service name)", "redis.west", [REFUSED]],
    ["refuses upper case", "Abc", [REFUSED]],
    ["refuses a trailing dash", "a-", [REFUSED]],
  ];
  for (const [name, value, expected] of cases) {
    test(name, () => assert.deepEqual(errorsOf(named(value)), expected));
  }

  test("also runs on updates (there is no old name to keep: names are immutable)", () => {
    const object = named("1abc.def");
    assert.deepEqual(errorsOf(object, object), [REFUSED]);
  });

  test("reads word for word like the webhook's, at the same field", () => {
    const object = named("1abc.def");
    const [webhook] = validateClusterName(object as unknown as RedisCluster, FieldPath.root());
    const [cel] = validateWithCel(redisClusterSchema, object, undefined);
    assert.deepEqual([cel?.field, cel?.type, cel?.detail], [webhook?.field, webhook?.type, webhook?.detail]);
  });
});

describe("the storage rule (a transition rule at the root)", () => {
  const REFUSED = `spec.storage: Forbidden: ${STORAGE_IMMUTABLE}`;
  const withoutStorage = mergePatch(cluster({}), { spec: { storage: null } }) as Json;
  const withStorage = cluster({ storage: { size: "100Gi", storageClass: "fast" } });
  const cases: [string, Json, unknown, string[]][] = [
    ["refuses adding storage", withoutStorage, { spec: { storage: { size: "1Gi" } } }, [REFUSED]],
    ["refuses removing storage", withStorage, { spec: { storage: null } }, [REFUSED]],
    ["refuses changing storage.size", withStorage, { spec: { storage: { size: "200Gi" } } }, [REFUSED]],
    [
      "refuses changing storage.storageClass",
      withStorage,
      { spec: { storage: { storageClass: "slow" } } },
      [REFUSED],
    ],
    ["accepts other changes to a cluster with storage", withStorage, { spec: { instances: 5 } }, []],
    ["accepts other changes to a cluster without storage", withoutStorage, { spec: { instances: 5 } }, []],
    ["accepts the same storage written again", withStorage, { spec: { storage: { size: "100Gi" } } }, []],
  ];
  for (const [name, old, patch, expected] of cases) {
    test(name, () => assert.deepEqual(errorsOf(mergePatch(old, patch), old), expected));
  }

  test("does not run on create", () => assert.deepEqual(errorsOf(withStorage), []));

  test("reads word for word like the webhook's", () => {
    const updated = mergePatch(withStorage, { spec: { storage: null } });
    const webhook = validateStorageUnchanged(
      updated as unknown as RedisCluster,
      FieldPath.root(),
      withStorage as unknown as RedisCluster,
    );
    assert.deepEqual(webhook.map(formatFieldError), [REFUSED]);
    assert.deepEqual(errorsOf(updated, withStorage), webhook.map(formatFieldError));
  });
});

describe("the replicationId rule (status cannot drop the demotion token)", () => {
  const KEPT = `status.promotion.replicationId: Forbidden: ${REPLICATION_ID_KEPT}`;

  for (const [name, patch] of [
    ["removing replicationId", { status: { promotion: { replicationId: null } } }],
    ["emptying it", { status: { promotion: { replicationId: "" } } }],
    ["removing the promotion", { status: { promotion: null } }],
    ["removing the whole status", { status: null }],
  ] as const) {
    test(`refuses ${name} while the spec does not confirm the demotion`, () => {
      assert.deepEqual(errorsOf(mergePatch(promoted, patch), promoted), [KEPT]);
    });
  }

  test("lets the controller drop it once the stored spec carries the matching token", () => {
    const confirmed = mergePatch(promoted, {
      spec: { replicaMode: { promote: false, demotionToken: "8c1f9e6a0b" } },
    }) as Json;
    assert.deepEqual(errorsOf(mergePatch(confirmed, { status: { promotion: null } }), confirmed), []);
  });

  test("still refuses with a token for another promotion", () => {
    const wrong = mergePatch(promoted, { spec: { replicaMode: { demotionToken: "0000" } } }) as Json;
    assert.deepEqual(errorsOf(mergePatch(wrong, { status: { promotion: null } }), wrong), [KEPT]);
  });

  test("lets every other status write through, and says nothing before a promotion completed", () => {
    const lagged = mergePatch(promoted, { status: { replication: { lagBytes: 5 } } });
    assert.deepEqual(errorsOf(lagged, promoted), []);
    assert.deepEqual(errorsOf(mergePatch(promotionPending, { status: null }), promotionPending), []);
  });
});
