import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DrHarness, infoField, keysOf } from "../../support/dr-harness.ts";
import { waitFor } from "../../support/redis-process.ts";

// This file's loopback range: 127.23.4.0/24 (127.23.x is shared by /24: test/support/loopback.ts).

describe("a standalone cluster (no replica mode)", () => {
  const h = new DrHarness("127.23.4");
  before(() => h.start());
  after(() => h.stop());

  it("makes the designated leader the primary and the others its replicas", async () => {
    h.spec = { instances: 3, authSecret: { name: "dr-auth" }, minSyncReplicas: 1 };
    await h.reconcileUntil("formed", async () =>
      (await h.report()).figures.every((f) => f.pod === "dr-0" || f.linkUp === 1),
    );
    const leader = h.pods[0]!;
    assert.equal(await infoField(leader, "replication", "role"), "master");
    assert.equal(await infoField(leader, "replication", "connected_slaves"), "2");
    const client = leader.client();
    await client.set("k", "v");
    client.disconnect();
    await waitFor("replicated", async () => (await keysOf(h.pods[2]!)).has("k"));
    assert.deepEqual(
      h.status.conditions?.map((c) => [c.type, c.status, c.reason]),
      [
        ["ReplicaMode", "False", "Disabled"],
        ["ReplicationHealthy", "True", "NotReplicating"],
      ],
    );
    assert.equal(h.status.currentPrimary, "dr-0");
    assert.equal(h.status.designatedLeader, "dr-0");
    assert.equal(h.status.replication, undefined);
    // minSyncReplicas is the primary's min-replicas-to-write; the replicas keep 0.
    assert.deepEqual(await leader.client().config("GET", "min-replicas-to-write"), [
      "min-replicas-to-write",
      "1",
    ]);
  });
});
