import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ioredisAdminFactory } from "../../../controller/redis/ioredis-admin.ts";
import { AdminPool } from "../../../controller/replication/context.ts";
import { reconcileReplication } from "../../../controller/replication/engine.ts";
import { Interrupted, crashingAfterChanges } from "../../support/crashing-admin.ts";
import { ADMIN_USER } from "../../../controller/redis/users.ts";
import { CLUSTER_USERS, DrHarness, infoField, keysOf } from "../../support/dr-harness.ts";
import { waitFor } from "../../support/redis-process.ts";

// This file's loopback range: 127.67.0.0/16, one /24 per scenario.

describe("a promotion reverted after the leader became a primary but before that was recorded", () => {
  const h = new DrHarness("127.67.1");
  before(() => h.start());
  after(() => h.stop());

  it("is reported as a demotion with the bytes it discards, not as abandoned", async () => {
    h.spec = h.replicaSpec(false, "direct");
    const writer = h.source.client();
    for (let i = 0; i < 20; i++) await writer.set(`source-${i}`, "v");
    writer.disconnect();
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));

    // The controller dies right after REPLICAOF NO ONE, before the status write that records the new history.
    h.spec = h.replicaSpec(true, "direct");
    let crashed = false;
    for (let run = 0; run < 10 && !crashed; run++) {
      const pool = new AdminPool(
        crashingAfterChanges(ioredisAdminFactory({ connectTimeoutMs: 500 }), (what) => {
          if (!what.startsWith("REPLICAOF NO ONE")) return;
          crashed = true;
          throw new Interrupted(what);
        }),
      );
      try {
        await reconcileReplication(h.context(pool));
      } catch (error) {
        if (!(error instanceof Interrupted)) throw error;
      } finally {
        await pool.closeAll();
      }
    }
    assert.ok(crashed);
    assert.equal(h.status.promotion?.phase, "Promoting");
    assert.equal(h.status.promotion?.replicationId, undefined);

    // This controller's leader refuses writes until its history is recorded; one left by an older
    // controller (min-replicas-to-write already lifted) takes them.
    const leader = h.pods[0]!;
    const client = leader.client();
    await assert.rejects(client.set("refused", "x"), /NOREPLICAS/);
    const admin = leader.client({ username: ADMIN_USER, password: CLUSTER_USERS.admin });
    await admin.config("SET", "min-replicas-to-write", "0");
    admin.disconnect();
    for (let i = 0; i < 10; i++) assert.equal(await client.set(`promoted-${i}`, "x".repeat(100)), "OK");
    client.disconnect();
    const replicationId = (await infoField(leader, "replication", "master_replid")) ?? "";
    const discardedBytes =
      Number(await infoField(leader, "replication", "master_repl_offset")) -
      (Number(await infoField(leader, "replication", "second_repl_offset")) - 1);
    assert.ok(discardedBytes > 1000);

    // Reverted without a token (nothing was recorded, so nothing asks for one).
    h.spec = h.replicaSpec(false, "direct");
    await h.reconcile();
    assert.equal(h.status.promotion, undefined);
    const { completedAt, ...recorded } = h.status.lastDemotion ?? {};
    assert.deepEqual(recorded, { replicationId, discardedBytes });
    assert.deepEqual(
      h.events.filter((e) => e.reason === "Demoted" || e.reason === "PromotionAborted"),
      [
        {
          type: "Warning",
          reason: "Demoted",
          message:
            `Promotion reverted before it was recorded, but dr-0 had already become a primary (replication ID ` +
            `${replicationId}): ${discardedBytes} bytes written to it since are discarded; the pods ` +
            "resynchronise from prod-east",
        },
      ],
    );

    // Every pod was re-pointed at the source in the same pass.
    assert.equal(typeof completedAt, "string");
    assert.deepEqual(
      h.events.filter((e) => e.reason === "DemotionCompleted").map((e) => e.message),
      ["Every pod replicates from prod-east again"],
    );
    await h.reconcileUntil("replicating", () => h.status.replication?.linkStatus === "Up");
    assert.equal(h.condition("ReplicaMode")?.reason, "Enabled");
    for (const pod of h.pods) {
      assert.equal(await infoField(pod, "replication", "master_host"), h.source.host);
    }
    await waitFor("the promoted writes are gone", async () => !(await keysOf(leader)).has("promoted-0"));
    assert.equal((await keysOf(leader)).size, 20);
  });
});
