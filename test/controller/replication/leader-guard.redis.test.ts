/**
 * The guard a leader passes before it becomes a primary (issue 15, items 1-3): an empty leader never becomes
 * the primary while a pod that may hold the data cannot be asked; a leader restarted from its AOF never copies
 * a replica that is behind what it last reached; a promoted leader takes no write before its replication ID
 * (the demotion token) is in status. Real redis-server processes, the engine driven as the controller does.
 * Loopback range 127.41.0.0/16, one /24 per scenario.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { RedisClusterStatus } from "../../../schemas/generated/rediscluster.ts";
import { ioredisAdminFactory } from "../../../controller/redis/ioredis-admin.ts";
import { AdminPool } from "../../../controller/replication/context.ts";
import { reconcileReplication } from "../../../controller/replication/engine.ts";
import { ADMIN_USER } from "../../../controller/redis/users.ts";
import {
  CLUSTER_USERS,
  DrHarness,
  infoField,
  keysOf,
  missingKeys,
  writeNumbered,
  waitPersisted,
} from "../../support/dr-harness.ts";
import type { RedisProcess } from "../../support/redis-process.ts";
import { waitFor } from "../../support/redis-process.ts";

async function replicating(h: DrHarness, keys: readonly string[]): Promise<void> {
  h.spec = h.replicaSpec(false, "direct");
  await h.reconcileUntil(
    "every pod linked with every key",
    async () =>
      (await missingKeys(h, new Set(keys))).length === 0 &&
      (await h.report()).figures.every((f) => f.linkUp === 1),
  );
  // One more pass records every pod's offset (status.lastKnownOffsets) at the end of the stream.
  await h.reconcile();
}

const condition = (h: DrHarness, type: string) => h.status.conditions?.find((c) => c.type === type);

describe("an empty leader whose peers cannot be asked, promotion requested", () => {
  const h = new DrHarness("127.41.1");
  before(() => h.start());
  after(() => h.stop());

  it("waits, says why and how to go on, and loses nothing when the peers resume", async () => {
    const keys = await writeNumbered(h.source, "k", 60);
    await replicating(h, keys);
    await h.source.kill(true); // the primary region is lost
    const [leader, one, two] = h.pods as [RedisProcess, RedisProcess, RedisProcess];
    one.pause();
    two.pause();
    await leader.kill(true);
    leader.wipeData(); // rescheduled onto an empty volume
    await leader.start();
    const runId = await infoField(leader, "server", "run_id");

    h.spec = h.replicaSpec(true, "direct");
    for (let i = 0; i < 3; i++) await h.reconcile();

    assert.equal(
      await infoField(leader, "replication", "role"),
      "slave",
      "the empty leader became a primary",
    );
    assert.equal(h.status.promotion?.phase, "CatchingUp");
    const message =
      "dr-0 is empty and dr-1, dr-2 cannot be asked: dr-0 does not become a primary until every pod has been " +
      "seen, since those pods may hold data the others lack and would copy dr-0's dataset. To go on with the " +
      "pods that answer, discarding whatever the others hold: kubectl annotate rediscluster dr " +
      `redis.io/confirm-leader=promote:${runId} --overwrite`;
    assert.deepEqual(
      { ...condition(h, "LeaderBlocked"), lastTransitionTime: undefined },
      {
        type: "LeaderBlocked",
        status: "True",
        reason: "UnobservedPods",
        message,
        lastTransitionTime: undefined,
      },
    );
    assert.equal(h.status.promotion?.message, message);
    assert.deepEqual(
      h.events.filter((e) => e.reason === "LeaderBlocked"),
      [{ type: "Warning", reason: "LeaderBlocked", message }],
      "one Event for the wait, not one per pass",
    );

    one.resume();
    two.resume();
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    assert.deepEqual(await missingKeys(h, new Set(keys)), [], "keys lost");
    assert.equal(condition(h, "LeaderBlocked")?.status, "False");
    assert.equal(await infoField(leader, "replication", "role"), "master");
  });
});

describe("a promoted leader restarted from its AOF while its replicas lag behind it", () => {
  const h = new DrHarness("127.41.2");
  before(() => h.start());
  after(() => h.stop());

  it("is not replaced by a copy of a lagging replica; confirmed, it keeps its data and the others copy it", async () => {
    const keys = await writeNumbered(h.source, "k", 40);
    await replicating(h, keys);
    await h.source.kill(true);
    h.spec = h.replicaSpec(true, "direct");
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    const [leader, ...replicas] = h.pods as [RedisProcess, ...RedisProcess[]];

    const replicated = await writeNumbered(leader, "replicated", 30);
    await waitFor(
      "the replicas have the promoted writes",
      async () => (await missingKeys(h, new Set(replicated))).length === 0,
    );
    // The replicas stop following (a partition inside the region); the leader takes 50 more writes.
    for (const replica of replicas) {
      const client = replica.client({ username: ADMIN_USER, password: CLUSTER_USERS.admin });
      await client.call("REPLICAOF", "127.0.0.1", "1");
      client.disconnect();
    }
    const later = await writeNumbered(leader, "later", 50);
    // The controller sees the leader at its new offset (a status report, as after any reconcile).
    h.status = (await h.report()).transaction(h.status);
    const leaderOffset = Number(await infoField(leader, "replication", "master_repl_offset"));
    assert.equal(h.status.lastKnownOffsets?.find((k) => k.pod === "dr-0")?.offset, leaderOffset);
    await waitPersisted(leader);
    await leader.kill(true);
    await leader.start(); // from its AOF, onto a history of its own
    assert.equal((await keysOf(leader)).size, 120);
    const runId = await infoField(leader, "server", "run_id");
    const replicaOffset = Number(await infoField(replicas[0]!, "replication", "master_repl_offset"));

    for (let i = 0; i < 3; i++) await h.reconcile();
    assert.equal((await keysOf(leader)).size, 120, "the leader's own data was replaced");
    assert.equal(await infoField(leader, "replication", "role"), "slave");
    const blocked = condition(h, "LeaderBlocked");
    assert.equal(blocked?.status, "True");
    assert.equal(blocked?.reason, "DonorBehind");
    assert.equal(
      blocked?.message,
      `dr-0 restarted onto a replication history of its own with 120 keys; the furthest pod on the history ` +
        `it was on, dr-1, is at offset ${replicaOffset}, ${leaderOffset - replicaOffset} bytes behind the ` +
        `offset ${leaderOffset} dr-0 last reached: copying dr-1 would discard writes dr-0 acknowledged, which ` +
        `its own dataset may still hold. To keep dr-0's data (the other pods then copy it in full): kubectl ` +
        `annotate rediscluster dr redis.io/confirm-leader=keep:${runId} --overwrite; to copy dr-1 anyway: ` +
        `kubectl annotate rediscluster dr redis.io/confirm-leader=copy:${runId} --overwrite`,
    );
    assert.equal(h.events.filter((e) => e.reason === "LeaderBlocked").length, 1);

    h.confirmLeader = `keep:${runId}`;
    await h.reconcileUntil(
      "the leader primary again with both replicas",
      async () =>
        (await infoField(leader, "replication", "role")) === "master" &&
        (await infoField(leader, "replication", "connected_slaves")) === "2" &&
        (await missingKeys(h, new Set([...keys, ...replicated, ...later]))).length === 0,
    );
    assert.equal(condition(h, "LeaderBlocked")?.status, "False");
    assert.deepEqual(
      h.events.filter((e) => e.reason === "LeaderUnblocked").map((e) => e.type),
      ["Normal"],
    );
  });
});

describe("a promotion whose replication ID cannot be recorded (the API server unreachable)", () => {
  const h = new DrHarness("127.41.3");
  before(() => h.start());
  after(() => h.stop());

  it("leaves the leader refusing writes until the ID is in status, then it takes them", async () => {
    const keys = await writeNumbered(h.source, "k", 20);
    await replicating(h, keys);
    await h.source.kill(true);
    h.spec = h.replicaSpec(true, "direct");
    const leader = h.pods[0]!;

    // Every status write that would record the new history fails, as with the API server gone.
    const unreachable = async (tx: (s: RedisClusterStatus) => RedisClusterStatus): Promise<void> => {
      const next = tx(h.status);
      if (next.promotion?.replicationId !== undefined) throw new Error("connect ECONNREFUSED (API server)");
      h.status = next;
    };
    for (let i = 0; i < 2; i++) {
      const pool = new AdminPool(ioredisAdminFactory({ connectTimeoutMs: 500 }));
      try {
        await assert.rejects(reconcileReplication(h.context(pool, unreachable)), /ECONNREFUSED/);
      } finally {
        await pool.closeAll();
      }
    }
    assert.equal(await infoField(leader, "replication", "role"), "master");
    assert.equal(h.status.promotion?.replicationId, undefined);
    const client = leader.client();
    try {
      await assert.rejects(client.set("before-the-id-is-recorded", "1"), /NOREPLICAS/);

      await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
      assert.equal(
        h.status.promotion?.replicationId,
        await infoField(leader, "replication", "master_replid"),
      );
      assert.equal(await client.set("after-the-id-is-recorded", "1"), "OK");
    } finally {
      client.disconnect();
    }
    await waitFor("replicated", async () => (await keysOf(h.pods[1]!)).has("after-the-id-is-recorded"));
    assert.deepEqual(await missingKeys(h, new Set(keys)), []);
  });
});
