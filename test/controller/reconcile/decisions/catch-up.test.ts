import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decideCatchUp,
  isCaughtUp,
  promotedOffsetOf,
  sharesHistory,
} from "../../../../controller/reconcile/decisions/catch-up.ts";
import { D, R, S, pod, primary, replica } from "./snapshots.ts";

describe("decideCatchUp", () => {
  it("needs no catch-up when no pod is ahead of the leader", () => {
    assert.deepEqual(decideCatchUp(replica(S, 500), [pod(1, replica(S, 500)), pod(2, replica(S, 300))]), {
      kind: "caught-up",
    });
  });

  it("picks the furthest-ahead pod on the leader's history, for a partial resync", () => {
    const ahead = pod(2, replica(S, 900));
    assert.deepEqual(decideCatchUp(replica(S, 500), [pod(1, replica(S, 700)), ahead]), {
      kind: "catch-up",
      donor: ahead,
      bytesAhead: 400,
      partial: true,
    });
  });

  it("follows a history across a switch of primary (replid2)", () => {
    const donor = pod(1, primary(D, 900, S, 801));
    const decision = decideCatchUp(replica(S, 500), [donor]);
    assert.equal(decision.kind, "catch-up");
    assert.equal(decision.kind === "catch-up" && decision.donor, donor);
  });

  it("ignores offsets on an unrelated history while the leader has data", () => {
    assert.deepEqual(decideCatchUp(replica(R, 0, {}, 50), [pod(1, replica(S, 90000, {}, 40))]), {
      kind: "caught-up",
    });
  });

  it("copies from the pod with the most keys when the leader came back empty", () => {
    const rich = pod(2, replica(S, 90000, {}, 40));
    assert.deepEqual(decideCatchUp(replica(R, 0, {}, 0), [pod(1, replica(S, 80000, {}, 30)), rich]), {
      kind: "catch-up",
      donor: rich,
      bytesAhead: 90000,
      partial: false,
    });
  });

  it("lets an empty leader be primary when every pod is empty", () => {
    assert.deepEqual(decideCatchUp(replica(R, 0, {}, 0), [pod(1, replica(S, 0, {}, 0))]), {
      kind: "caught-up",
    });
  });

  it("does not consider pods that could not be asked", () => {
    assert.deepEqual(decideCatchUp(replica(S, 10, {}, 0), [pod(1)]), { kind: "caught-up" });
  });
});

describe("sharesHistory", () => {
  it("matches on replid or replid2 but never on the all-zero id", () => {
    assert.equal(sharesHistory(replica(S, 1), primary(D, 5, S, 3)), true);
    assert.equal(sharesHistory(replica(S, 1), replica(R, 1)), false);
    assert.equal(sharesHistory(primary(D, 1), primary(R, 1)), false);
  });
});

describe("isCaughtUp", () => {
  it("needs the link up, no full sync running and the donor's offset reached", () => {
    const linked = (offset: number, extra = {}) =>
      replica(D, offset, { linkStatus: "up", host: "10.0.0.2", port: 6379, ...extra }).replication;
    assert.equal(isCaughtUp(linked(900), 900), true);
    assert.equal(isCaughtUp(linked(899), 900), false);
    assert.equal(isCaughtUp(linked(900, { syncInProgress: true }), 900), false);
    assert.equal(isCaughtUp(linked(900, { linkStatus: "down" }), 900), false);
  });
});

describe("promotedOffsetOf", () => {
  it("reads the offset at which the new history began", () => {
    assert.equal(promotedOffsetOf(primary(D, 1500, S, 1201)), 1200);
    assert.equal(promotedOffsetOf(primary(D, 1500)), 1500);
  });
});
