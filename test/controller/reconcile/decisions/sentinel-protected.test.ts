import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sentinelProtectedCondition } from "../../../../controller/model/conditions.ts";

const primary = { kind: "primary", primary: "east-0", instances: 3, quorum: 2, downAfterSeconds: 5 } as const;

describe("SentinelProtected", () => {
  it("is True only when a quorum of Sentinels monitors the primary and a replica holding its data can be elected", () => {
    assert.deepEqual(
      sentinelProtectedCondition({ ...primary, monitoring: 3, electable: 2, knownToSentinels: 2 }),
      {
        type: "SentinelProtected",
        status: "True",
        reason: "Monitored",
        message:
          "3 of 3 Sentinels monitor east-0 (quorum 2); 2 replica(s) holding its data can be elected: a primary " +
          "that does not answer for 5 s is failed over",
      },
    );
    // A hung pod's Sentinel may not answer: two still reach the quorum.
    assert.equal(
      sentinelProtectedCondition({ ...primary, monitoring: 2, electable: 1, knownToSentinels: 1 }).status,
      "True",
    );
    // A replica some Sentinel has not learned yet is not counted, and the message says it.
    assert.equal(
      sentinelProtectedCondition({ ...primary, monitoring: 3, electable: 2, knownToSentinels: 1 }).message,
      "3 of 3 Sentinels monitor east-0 (quorum 2); 1 replica(s) holding its data can be elected (1 more once " +
        "every Sentinel has learned them): a primary that does not answer for 5 s is failed over",
    );
  });

  it("says plainly why the cluster is not protected", () => {
    const fewSentinels = sentinelProtectedCondition({
      ...primary,
      monitoring: 1,
      electable: 2,
      knownToSentinels: 2,
    });
    assert.equal(fewSentinels.status, "False");
    assert.equal(fewSentinels.reason, "QuorumNotMonitoring");
    assert.match(fewSentinels.message, /^Not protected: only 1 of 3 Sentinels monitor east-0 \(quorum 2\)/);

    const noReplica = sentinelProtectedCondition({
      ...primary,
      monitoring: 3,
      electable: 0,
      knownToSentinels: 0,
    });
    assert.equal(noReplica.status, "False");
    assert.equal(noReplica.reason, "NoElectableReplica");
    assert.match(noReplica.message, /no replica holds east-0's data yet/);

    // Sentinel elects only a replica it knows, and learns them from the primary's INFO: every 10 s, and never
    // while the primary hangs.
    const unknown = sentinelProtectedCondition({
      ...primary,
      monitoring: 3,
      electable: 2,
      knownToSentinels: 0,
    });
    assert.equal(unknown.status, "False");
    assert.equal(unknown.reason, "ReplicasUnknownToSentinels");
    assert.equal(
      unknown.message,
      "Not protected yet: 3 of 3 Sentinels monitor east-0 (quorum 2) and 2 replica(s) hold its data, but not " +
        "every Sentinel knows them: Sentinel learns east-0's replicas from its INFO (every 10 s, never while it " +
        "hangs) and elects only a replica it knows",
    );

    const replicaCluster = sentinelProtectedCondition({ kind: "replica-cluster" });
    assert.equal(replicaCluster.status, "False");
    assert.equal(replicaCluster.reason, "ReplicaCluster");
  });
});
