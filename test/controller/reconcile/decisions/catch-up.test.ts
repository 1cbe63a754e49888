import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  catchUpReason,
  decideCatchUp,
  isCaughtUp,
  othersFollowDonor,
  promotedOffsetOf,
  sharesHistory,
} from "../../../../controller/replication/decisions/catch-up.ts";
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
      reason: "behind",
      donor: ahead,
      bytesAhead: 400,
    });
  });

  it("follows a history across a switch of primary (replid2)", () => {
    const donor = pod(1, primary(D, 900, S, 801));
    const decision = decideCatchUp(replica(S, 500), [donor]);
    assert.equal(decision.kind, "catch-up");
    assert.equal(decision.kind === "catch-up" && decision.donor, donor);
  });

  it("has a leader restarted onto a history of its own copy the furthest-ahead pod of the history it left", () => {
    // dr-0 restarted from its AOF (new replid, offset 0, its keys); dr-1 and dr-2 kept the source's history.
    const furthest = pod(2, replica(S, 90000, {}, 40));
    assert.deepEqual(decideCatchUp(replica(R, 0, {}, 50), [pod(1, replica(S, 80000, {}, 45)), furthest]), {
      kind: "catch-up",
      reason: "own-history",
      donor: furthest,
    });
  });

  it("does the same after a promotion, from a replica that kept the promoted history", () => {
    // The promoted leader crashed and came back parked; its replicas hold P (also as replid2 of a donor).
    const donor = pod(1, primary(D, 5200, S, 5001, 70));
    assert.deepEqual(decideCatchUp(replica(R, 0, {}, 69), [donor, pod(2, replica(D, 5100, {}, 70))]), {
      kind: "catch-up",
      reason: "own-history",
      donor,
    });
  });

  it("takes the history most pods kept when the others disagree", () => {
    const [P, Q] = ["1".repeat(40), "2".repeat(40)];
    const donor = pod(2, replica(P, 300));
    assert.deepEqual(
      decideCatchUp(replica(R, 0), [pod(1, replica(P, 200)), donor, pod(3, replica(Q, 900))]),
      { kind: "catch-up", reason: "own-history", donor },
    );
  });

  it("picks the lowest ordinal among pods equally far ahead", () => {
    const first = pod(1, replica(S, 700));
    assert.deepEqual(decideCatchUp(replica(R, 0), [first, pod(2, replica(S, 700))]), {
      kind: "catch-up",
      reason: "own-history",
      donor: first,
    });
  });

  it("ignores followers that restarted too, and copies from the one that did not", () => {
    const kept = pod(2, replica(S, 700, {}, 30));
    assert.deepEqual(decideCatchUp(replica(R, 0, {}, 50), [pod(1, replica(D, 0, {}, 60)), kept]), {
      kind: "catch-up",
      reason: "own-history",
      donor: kept,
    });
  });

  it("keeps the leader's data when every pod restarted: their histories cannot be compared", () => {
    assert.deepEqual(
      decideCatchUp(replica(R, 0, {}, 50), [pod(1, replica(S, 0, {}, 60)), pod(2, replica(D, 0, {}, 70))]),
      { kind: "caught-up" },
    );
  });

  it("keeps the leader's data when no other pod answers", () => {
    assert.deepEqual(decideCatchUp(replica(R, 0, {}, 50), [pod(1), pod(2)]), { kind: "caught-up" });
  });

  it("keeps a leader that kept its history, whatever restarted pods hold", () => {
    assert.deepEqual(decideCatchUp(replica(S, 500, {}, 50), [pod(1, replica(R, 0, {}, 90))]), {
      kind: "caught-up",
    });
  });

  it("copies an empty leader from the furthest-ahead pod of a kept history", () => {
    const furthest = pod(2, replica(S, 90000, {}, 40));
    assert.deepEqual(decideCatchUp(replica(R, 0, {}, 0), [pod(1, replica(S, 80000, {}, 45)), furthest]), {
      kind: "catch-up",
      reason: "own-history",
      donor: furthest,
    });
  });

  it("copies an empty leader from the pod with the most keys when every pod restarted", () => {
    const rich = pod(2, replica(D, 0, {}, 40));
    assert.deepEqual(decideCatchUp(replica(R, 0, {}, 0), [pod(1, replica(S, 0, {}, 30)), rich]), {
      kind: "catch-up",
      reason: "empty",
      donor: rich,
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

describe("catchUpReason and othersFollowDonor", () => {
  const donor = pod(1, replica(S, 900, {}, 40));
  for (const [name, leader, decision, reason, follow] of [
    [
      "behind",
      replica(S, 500),
      { kind: "catch-up", reason: "behind", donor, bytesAhead: 400 },
      "400 bytes ahead",
      true,
    ],
    [
      "own history",
      replica(R, 0, {}, 35),
      { kind: "catch-up", reason: "own-history", donor },
      "dr-0 restarted onto a replication history of its own, at offset 0 with 35 keys, while dr-1 kept the " +
        "history dr-0 was on and is the furthest ahead on it, at offset 900 with 40 keys: a full copy of dr-1 " +
        "replaces dr-0's data",
      true,
    ],
    [
      "own history, empty",
      replica(R, 0, {}, 0),
      { kind: "catch-up", reason: "own-history", donor },
      "the leader is empty",
      true,
    ],
    [
      "empty",
      replica(R, 0, {}, 0),
      { kind: "catch-up", reason: "empty", donor },
      "the leader is empty",
      false,
    ],
  ] as const) {
    it(`says why (${name}) and whether the others follow the donor`, () => {
      assert.equal(catchUpReason("dr-0", leader, decision), reason);
      assert.equal(othersFollowDonor(decision), follow);
    });
  }
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
