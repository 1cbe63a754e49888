import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { conditionMessage, setCondition } from "../../../controller/status/conditions.ts";
import { validateStructure } from "../../../webhook/validation/structural.ts";
import { CONDITION_MESSAGE_MAX_LENGTH } from "../../../schemas/rediscluster.ts";
import { jsonEqual, mergePatch } from "../../../controller/status/transaction.ts";

const t0 = new Date("2026-01-01T00:00:00Z");
const t1 = new Date("2026-01-01T00:05:00Z");

describe("setCondition", () => {
  it("adds a condition with the time of its transition", () => {
    assert.deepEqual(
      setCondition(undefined, { type: "Ready", status: "True", reason: "Ready", message: "3/3" }, 4, t0),
      [
        {
          type: "Ready",
          status: "True",
          reason: "Ready",
          message: "3/3",
          lastTransitionTime: t0.toISOString(),
          observedGeneration: 4,
        },
      ],
    );
  });

  it("keeps lastTransitionTime when the status does not change, even if the message does", () => {
    const before = setCondition(
      undefined,
      { type: "Ready", status: "False", reason: "PodsNotReady", message: "1/3" },
      1,
      t0,
    );
    const after = setCondition(
      before,
      { type: "Ready", status: "False", reason: "PodsNotReady", message: "2/3" },
      2,
      t1,
    );
    assert.equal(after[0]?.lastTransitionTime, t0.toISOString());
    assert.equal(after[0]?.message, "2/3");
  });

  it("moves lastTransitionTime when the status changes and leaves other conditions alone", () => {
    const other = {
      type: "ReplicaMode",
      status: "True" as const,
      reason: "Enabled",
      message: "m",
      lastTransitionTime: "x",
    };
    const after = setCondition(
      [other, { ...other, type: "Ready", status: "False" }],
      { type: "Ready", status: "True", reason: "Ready", message: "ok" },
      3,
      t1,
    );
    assert.deepEqual(after[0], other);
    assert.equal(after[1]?.lastTransitionTime, t1.toISOString());
  });
});

describe("mergePatch", () => {
  it("sets changed fields, nulls removed ones, replaces arrays and skips equal ones", () => {
    const from = {
      a: 1,
      promotion: { phase: "Completed", replicationId: "x" },
      conditions: [{ type: "A" }],
      same: { k: 1 },
    };
    const to = { a: 2, conditions: [{ type: "A" }, { type: "B" }], same: { k: 1 }, added: "y" };
    assert.deepEqual(mergePatch(from, to), {
      a: 2,
      promotion: null,
      conditions: [{ type: "A" }, { type: "B" }],
      added: "y",
    });
  });

  it("compares JSON values regardless of key order and undefined fields", () => {
    assert.equal(jsonEqual({ a: 1, b: undefined, c: [1, { d: 2 }] }, { c: [1, { d: 2 }], a: 1 }), true);
    assert.equal(jsonEqual({ a: [1, 2] }, { a: [2, 1] }), false);
  });
});

describe("conditionMessage", () => {
  it("keeps a message within the CRD's limit as it is", () => {
    const fits = "é".repeat(CONDITION_MESSAGE_MAX_LENGTH);
    assert.equal(conditionMessage(fits), fits);
    assert.equal(conditionMessage("3/3 ready"), "3/3 ready");
  });

  it("cuts a longer one to exactly the limit, counted in code points, and says so", () => {
    // Astral characters are two UTF-16 units each: the limit is on characters, as the API server counts.
    const long = "🙂".repeat(CONDITION_MESSAGE_MAX_LENGTH) + "tail";
    const cut = conditionMessage(long);
    assert.equal(Array.from(cut).length, CONDITION_MESSAGE_MAX_LENGTH);
    assert.ok(cut.startsWith("🙂🙂🙂"));
    assert.ok(cut.endsWith(" … (truncated)"));
  });

  it("lets setCondition write a status the CRD's schema accepts, whatever the message", () => {
    const conditions = setCondition(
      undefined,
      { type: "Ready", status: "False", reason: "Error", message: "x".repeat(1_000_000) },
      1,
      t0,
    );
    const object = {
      apiVersion: "redis.io/v1",
      kind: "RedisCluster",
      metadata: { name: "r" },
      spec: {},
      status: { conditions },
    };
    assert.deepEqual(validateStructure(object), []);
    assert.equal(conditions[0]?.message.length, CONDITION_MESSAGE_MAX_LENGTH);
  });
});
