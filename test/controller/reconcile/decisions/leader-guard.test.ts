import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KnownOffset } from "../../../../controller/replication/decisions/catch-up.ts";
import {
  decideCatchUp,
  recordOffsets,
  reviewCatchUp,
} from "../../../../controller/replication/decisions/catch-up.ts";
import type { InstanceSnapshot } from "../../../../controller/redis/admin-port.ts";
import type { ObservedPod } from "../../../../controller/model/pods.ts";
import { D, R, pod, primary, replica } from "./snapshots.ts";

const withRunId = (snapshot: InstanceSnapshot, runId = "run1"): InstanceSnapshot => ({ ...snapshot, runId });
/** Restarted from its AOF: held, on a history of its own at offset 0, with its keys. */
const restarted = (keys: number) => withRunId(replica(R, 0, {}, keys));

function review(
  leader: InstanceSnapshot,
  others: readonly ObservedPod[],
  lastKnown: readonly KnownOffset[] | undefined,
  confirmation?: string,
) {
  return reviewCatchUp("dr-0", leader, others, decideCatchUp(leader, others), {
    cluster: "dr",
    instances: 3,
    lastKnown,
    confirmation,
  });
}

const held = [{ pod: "dr-0", replicationId: D, offset: 500, keys: 10 }];

describe("reviewCatchUp: pods that cannot be asked", () => {
  it("blocks an empty leader while a pod of spec.instances cannot be asked, once the cluster held data", () => {
    const result = review(restarted(0), [pod(1), pod(2, replica(D, 400))], held);
    assert.equal(result.kind, "blocked");
    assert.equal(result.kind === "blocked" && result.reason, "UnobservedPods");
    assert.match(
      result.kind === "blocked" ? result.message : "",
      /^dr-0 is empty and dr-1 cannot be asked: .* kubectl annotate rediscluster dr redis\.io\/confirm-leader=promote:run1 --overwrite$/,
    );
  });

  it("counts a pod missing from the list (not scheduled) as not asked", () => {
    const result = review(restarted(0), [pod(1, replica(D, 400))], held);
    assert.match(result.kind === "blocked" ? result.message : "", /and dr-2 cannot be asked/);
  });

  it("lets a new cluster's empty leader go on: nothing was ever recorded", () => {
    assert.deepEqual(review(restarted(0), [pod(1), pod(2)], undefined), {
      kind: "proceed",
      decision: { kind: "caught-up" },
    });
  });

  it("lets a leader that kept its history go on, whoever cannot be asked", () => {
    const result = review(withRunId(replica(D, 500)), [pod(1), pod(2)], held);
    assert.equal(result.kind, "proceed");
  });

  it("goes on with the pods that answer once a human confirms for this very process", () => {
    assert.equal(review(restarted(0), [pod(1), pod(2)], held, "promote:run1").kind, "proceed");
    assert.equal(review(restarted(0), [pod(1), pod(2)], held, "promote:an-earlier-run").kind, "blocked");
  });
});

describe("reviewCatchUp: a donor behind the offset the leader last reached", () => {
  const others = [pod(1, replica(D, 300)), pod(2, replica(D, 200))];

  it("blocks the copy and offers to keep the leader's data or copy anyway", () => {
    const result = review(restarted(12), others, held);
    assert.equal(result.kind === "blocked" && result.reason, "DonorBehind");
    assert.match(
      result.kind === "blocked" ? result.message : "",
      /dr-1, is at offset 300, 200 bytes behind the offset 500 dr-0 last reached: .*=keep:run1 --overwrite; to copy dr-1 anyway: .*=copy:run1 --overwrite$/,
    );
  });

  it("copies a donor at or beyond that offset without asking", () => {
    const result = review(restarted(12), [pod(1, replica(D, 500)), pod(2, replica(D, 200))], held);
    assert.equal(result.kind === "proceed" && result.decision.kind, "catch-up");
  });

  it("does as confirmed: keep makes the leader the one the others copy, copy copies the donor", () => {
    assert.deepEqual(review(restarted(12), others, held, "keep:run1"), {
      kind: "proceed",
      decision: { kind: "caught-up" },
    });
    const copy = review(restarted(12), others, held, "copy:run1");
    assert.equal(
      copy.kind === "proceed" && copy.decision.kind === "catch-up" && copy.decision.donor.name,
      "dr-1",
    );
  });

  it("does not compare offsets across histories it cannot relate", () => {
    const other = [{ pod: "dr-0", replicationId: "e".repeat(40), offset: 500 }];
    assert.equal(review(restarted(12), others, other).kind, "proceed");
  });
});

describe("recordOffsets", () => {
  const now = new Date("2026-12-06T10:00:00Z");
  const before = [
    { pod: "dr-0", replicationId: D, offset: 500, keys: 10, observedAt: "2026-12-06T09:00:00.000Z" },
    { pod: "dr-1", replicationId: D, offset: 300, keys: 10, observedAt: "2026-12-06T09:00:00.000Z" },
  ];

  it("keeps what a restarted pod last reached until it re-establishes a history", () => {
    const next = recordOffsets(
      before,
      [pod(0, restarted(10)), pod(1), pod(2, replica(D, 300))],
      "dr",
      3,
      now,
    );
    assert.deepEqual(next, [
      before[0],
      before[1],
      { pod: "dr-2", replicationId: D, offset: 300, keys: 10, observedAt: now.toISOString() },
    ]);
  });

  it("moves on when the pod is a primary or linked to one, or continues the history", () => {
    const linked = replica(R, 40, { linkStatus: "up" });
    const next = recordOffsets(before, [pod(0, primary(R, 7)), pod(1, linked)], "dr", 3, now);
    assert.deepEqual(
      next.map((e) => [e.pod, e.replicationId, e.offset]),
      [
        ["dr-0", R, 7],
        ["dr-1", R, 40],
      ],
    );
  });

  it("writes nothing new for a pod whose figures did not move, and drops pods beyond spec.instances", () => {
    const next = recordOffsets(before, [pod(0, replica(D, 500)), pod(1, replica(D, 300))], "dr", 1, now);
    assert.deepEqual(next, [before[0]]);
  });
});
