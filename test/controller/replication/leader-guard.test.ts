/**
 * The guard a leader passes before it becomes a primary: a promoted leader takes no write before its
 * replication ID (the demotion token) is in status. Real redis-server processes, the engine driven as the controller does.
 * Loopback range 127.41.0.0/16, one /24 per scenario.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { RedisClusterStatus } from "../../../schemas/generated/rediscluster.ts";
import { ioredisAdminFactory } from "../../../controller/redis/ioredis-admin.ts";
import { AdminPool } from "../../../controller/replication/context.ts";
import { reconcileReplication } from "../../../controller/replication/engine.ts";
import { DrHarness, infoField, keysOf, missingKeys } from "../helpers/dr-harness.ts";
import type { RedisProcess } from "../helpers/redis-process.ts";
import { waitFor } from "../helpers/redis-process.ts";

async function write(p: RedisProcess, prefix: string, count: number): Promise<string[]> {
  const client = p.client();
  try {
    const keys = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    for (const key of keys) await client.set(key, key);
    return keys;
  } finally {
    client.disconnect();
  }
}

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

describe("a promotion whose replication ID cannot be recorded (the API server unreachable)", () => {
  const h = new DrHarness("127.41.3");
  before(() => h.start());
  after(() => h.stop());

  it("leaves the leader refusing writes until the ID is in status, then it takes them", async () => {
    const keys = await write(h.source, "k", 20);
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
