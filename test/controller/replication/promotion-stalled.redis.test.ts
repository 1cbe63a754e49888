import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DrHarness } from "../../support/dr-harness.ts";

// This file's loopback range: 127.66.0.0/16, one /24 per scenario.

describe("a promotion waiting for the designated leader", () => {
  const h = new DrHarness("127.66.1");
  before(() => h.start());
  after(() => h.stop());

  it("says what it waits for in one Warning Event, not one per reconcile", async () => {
    h.spec = h.replicaSpec(false, "direct");
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
    const leader = h.pods[0]!;
    await leader.kill(true);
    h.spec = h.replicaSpec(true, "direct");
    for (let i = 0; i < 3; i++) await h.reconcile();

    const waiting =
      `Waiting for the designated leader dr-0: INFO on ${leader.host}:6379: connect ECONNREFUSED ` +
      `${leader.host}:6379`;
    assert.equal(h.status.promotion?.phase, "CatchingUp");
    assert.equal(h.status.promotion?.message, waiting);
    assert.deepEqual(
      h.events.filter((e) => e.reason === "PromotionStalled"),
      [{ type: "Warning", reason: "PromotionStalled", message: waiting }],
    );

    await leader.start();
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    assert.equal(h.events.filter((e) => e.reason === "PromotionStalled").length, 1);
  });
});
