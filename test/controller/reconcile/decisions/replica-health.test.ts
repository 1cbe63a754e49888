import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { replicasInSyncCondition } from "../../../../controller/replication/decisions/replica-health.ts";
import { S, pod, replica } from "./snapshots.ts";

const now = new Date("2026-12-06T10:00:00Z");
const linked = (keys: number) => replica(S, 100, { host: "10.0.0.9", port: 6379, linkStatus: "up" }, keys);
const failing = (keys: number, extra = {}) =>
  replica(S, 0, { host: "10.0.0.9", port: 6379, linkStatus: "down", syncInProgress: true, ...extra }, keys);

describe("replicasInSyncCondition", () => {
  it("is absent while every replica keeps up, and names one that never completed its copy", () => {
    assert.equal(
      replicasInSyncCondition([pod(0, linked(1500)), pod(1, linked(1500))], undefined, now),
      undefined,
    );
    assert.deepEqual(replicasInSyncCondition([pod(0, linked(1500)), pod(1, failing(0))], undefined, now), {
      type: "ReplicasInSync",
      status: "False",
      reason: "Syncing",
      message:
        "dr-1 has not completed a copy of 10.0.0.9:6379 (0 keys, the leader holds 1500; a full sync is running)",
    });
  });

  it("says NotInSync once it has been False for the grace period, and True again when it recovers", () => {
    const previous = {
      type: "ReplicasInSync",
      status: "False" as const,
      reason: "Syncing",
      message: "…",
      lastTransitionTime: "2026-12-06T09:59:00Z",
    };
    assert.equal(
      replicasInSyncCondition([pod(0, linked(1500)), pod(1, failing(0))], previous, now)?.reason,
      "NotInSync",
    );
    assert.equal(
      replicasInSyncCondition([pod(0, linked(1500)), pod(1, linked(1500))], previous, now)?.status,
      "True",
    );
  });

  it("names a replica with its data whose link has been down past the grace period, not one just reconnecting", () => {
    const down = (seconds: number) =>
      replica(S, 100, { host: "10.0.0.9", port: 6379, linkDownSinceSeconds: seconds }, 1500);
    assert.equal(replicasInSyncCondition([pod(0, linked(1500)), pod(1, down(5))], undefined, now), undefined);
    assert.equal(
      replicasInSyncCondition([pod(0, linked(1500)), pod(1, down(45))], undefined, now)?.message,
      "dr-1's link to 10.0.0.9:6379 is down for 45s",
    );
  });

  it("leaves pods the controller holds, and pods that cannot be asked, to the other conditions", () => {
    assert.equal(
      replicasInSyncCondition([pod(0, linked(1500)), pod(1, replica(S, 0, {}, 0)), pod(2)], undefined, now),
      undefined,
    );
  });
});
