import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { judgeUnrecordedPromotion } from "../../../controller/replication/revert.ts";
import { D, R, S, pod, primary, replica } from "../reconcile/decisions/snapshots.ts";

describe("judgeUnrecordedPromotion (a promotion reverted before its replicationId was recorded)", () => {
  const others = [pod(1, replica(S, 900)), pod(2, replica(S, 900))];

  it("reports the bytes a leader that became a primary took since, in any phase", () => {
    for (const phase of ["Promoting", "CatchingUp"] as const) {
      assert.deepEqual(judgeUnrecordedPromotion(phase, pod(0, primary(D, 1500, S, 901)), others), {
        kind: "discarded",
        replicationId: D,
        discardedBytes: 600,
      });
    }
  });

  it("abandons a promotion whose leader is still a held replica on the source's history", () => {
    assert.deepEqual(judgeUnrecordedPromotion("Promoting", pod(0, replica(S, 900)), others), {
      kind: "abandoned",
    });
  });

  it("abandons a promotion still catching up, whatever the leader says", () => {
    assert.deepEqual(judgeUnrecordedPromotion("CatchingUp", pod(0), others), { kind: "abandoned" });
    assert.deepEqual(judgeUnrecordedPromotion("CatchingUp", pod(0, replica(R, 0)), others), {
      kind: "abandoned",
    });
  });

  it("cannot tell what a leader that restarted while being made a primary took", () => {
    assert.deepEqual(judgeUnrecordedPromotion("Promoting", pod(0, replica(R, 0)), others), {
      kind: "unknown",
    });
  });

  it("waits for a leader that cannot be asked while being made a primary", () => {
    assert.deepEqual(judgeUnrecordedPromotion("Promoting", pod(0), others), {
      kind: "wait",
      error: "connect ECONNREFUSED",
    });
    assert.deepEqual(judgeUnrecordedPromotion("Promoting", undefined, others), {
      kind: "wait",
      error: "it has no address yet",
    });
  });
});
