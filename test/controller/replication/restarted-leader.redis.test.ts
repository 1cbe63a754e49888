import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { RedisProcess } from "../../support/redis-process.ts";
import { waitFor } from "../../support/redis-process.ts";
import {
  DrHarness,
  aofSize,
  infoField,
  keysOf,
  keysOnAnyPod,
  missingKeys,
  startWriteLoad,
  truncateAofTail,
  waitPersisted,
} from "../../support/dr-harness.ts";

// This file's loopback range: 127.65.0.0/16, one /24 per scenario.

/** Full and partial resynchronisations each pod served as a primary, by pod. */
async function syncsServed(h: DrHarness): Promise<{ full: number[]; partial: number[] }> {
  const full: number[] = [];
  const partial: number[] = [];
  for (const pod of h.pods) {
    full.push(Number(await infoField(pod, "stats", "sync_full")));
    partial.push(Number(await infoField(pod, "stats", "sync_partial_ok")));
  }
  return { full, partial };
}

/**
 * Exactly one full synchronisation since `before`: the donor's, into the leader; and the leader served the
 * two partial resyncs of its followers re-attaching.
 */
async function assertOnlyDonorFullSync(
  h: DrHarness,
  before: { full: number[]; partial: number[] },
  donorOrdinal: number,
): Promise<void> {
  const after = await syncsServed(h);
  assert.deepEqual(
    after.full.map((n, i) => n - (before.full[i] ?? 0)),
    h.pods.map((_, i) => (i === donorOrdinal ? 1 : 0)),
  );
  assert.equal(after.partial[0], 2);
}

const offsetOf = async (p: RedisProcess): Promise<number> =>
  Number(await infoField(p, "replication", "master_repl_offset"));

async function writeOne(p: RedisProcess, key: string): Promise<void> {
  const client = p.client();
  try {
    await client.set(key, "1");
  } finally {
    client.disconnect();
  }
}

/** The follower a restarted leader must copy: the furthest ahead, the lowest ordinal among equals. */
async function furthestFollower(h: DrHarness): Promise<{ ordinal: number; offset: number; keys: number }> {
  let best = { ordinal: 0, offset: -1, keys: 0 };
  for (const [ordinal, pod] of h.pods.entries()) {
    if (ordinal === 0) continue;
    const offset = await offsetOf(pod);
    if (offset > best.offset) best = { ordinal, offset, keys: (await keysOf(pod)).size };
  }
  return best;
}

const linkedToLeader = async (h: DrHarness): Promise<boolean> =>
  (await infoField(h.pods[0]!, "replication", "role")) === "master" &&
  (await h.report()).figures.every((f) => f.pod === "dr-0" || f.linkUp === 1);

describe("a leader restarted while the source kept writing, then promoted", () => {
  const h = new DrHarness("127.65.1");
  before(() => h.start());
  after(() => h.stop());

  it("first copies the furthest-ahead follower in full: every key kept, no follower resynchronised in full", async () => {
    h.spec = h.replicaSpec(false, "direct");
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
    const load = startWriteLoad(h.source);
    const leader = h.pods[0]!;
    await waitFor("some writes on the leader", async () => (await keysOf(leader)).size > 200);
    await h.reconcile(); // the controller sees the source's offset while it still can
    await waitPersisted(leader);
    await leader.kill(true);
    // The source goes on writing: the followers get what the dead leader misses.
    await writeOne(h.source, "after-the-leader-died");
    await waitFor("the followers have the writes the leader missed", async () => {
      for (const pod of h.pods.slice(1)) if (!(await keysOf(pod)).has("after-the-leader-died")) return false;
      return true;
    });
    await h.source.kill(true);
    await load.stop();

    // Back from its AOF: its keys, a new replication history at offset 0, parked.
    await leader.start();
    assert.equal(await offsetOf(leader), 0);
    assert.equal((await keysOf(leader)).has("after-the-leader-died"), false);
    await h.reconcile(); // replica mode: the leader is pointed at the (gone) source again
    const leaderKeys = (await keysOf(leader)).size;
    assert.ok(leaderKeys > 200);
    const donor = await furthestFollower(h);
    const before = await keysOnAnyPod(h);
    const syncsBefore = await syncsServed(h);

    h.spec = h.replicaSpec(true, "direct");
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    await h.reconcile();

    assert.deepEqual(await missingKeys(h, before), []);
    assert.equal(await infoField(leader, "replication", "role"), "master");
    assert.equal(await infoField(leader, "replication", "connected_slaves"), "2");
    await assertOnlyDonorFullSync(h, syncsBefore, donor.ordinal);
    const name = `dr-${donor.ordinal}`;
    const why =
      `dr-0 restarted onto a replication history of its own, at offset 0 with ${leaderKeys} keys, while ` +
      `${name} kept the history dr-0 was on and is the furthest ahead on it, at offset ${donor.offset} with ` +
      `${donor.keys} keys: a full copy of ${name} replaces dr-0's data`;
    assert.deepEqual(
      h.events.filter((e) => e.reason === "PromotionCatchingUp"),
      [
        {
          type: "Warning",
          reason: "PromotionCatchingUp",
          message: `dr-0 copies ${name}'s dataset in full before promotion: ${why}`,
        },
      ],
    );
    const logged = h.logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      logged
        .filter((l) => l["reason"] === "own-history")
        .map(({ level, leader, donor, msg }) => ({ level, leader, donor, msg })),
      [
        {
          level: 40,
          leader: "dr-0",
          donor: name,
          msg: `dr-0 copies from ${name} before it may be a primary: ${why}`,
        },
      ],
    );
    assert.deepEqual(
      h.events.filter((e) => e.reason === "PromotionStalled"),
      [],
    );
  });
});

describe("the promoted leader crashing with writes only its replicas kept", () => {
  const h = new DrHarness("127.65.2");
  before(() => h.start());
  after(() => h.stop());

  it("copies them back from the furthest-ahead replica before it is the primary again", async () => {
    h.spec = h.replicaSpec(false, "direct");
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
    await h.source.kill(true);
    h.spec = h.replicaSpec(true, "direct");
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    const leader = h.pods[0]!;
    await waitPersisted(leader);

    const load = startWriteLoad(leader, "promoted");
    await waitFor("promoted writes on the replicas", async () => (await keysOf(h.pods[2]!)).size > 200);
    // What is on disk now survives the crash below; what the leader writes after it does not.
    const durable = aofSize(leader);
    await writeOne(leader, "acknowledged-by-the-replicas");
    await waitFor("the replicas acknowledged it", async () => {
      for (const pod of h.pods.slice(1))
        if (!(await keysOf(pod)).has("acknowledged-by-the-replicas")) return false;
      return true;
    });
    await leader.kill(true);
    await load.stop();
    // A SIGKILL alone loses nothing (the kernel keeps what Redis wrote); a node crash loses what
    // `appendfsync everysec` had not yet fsynced.
    truncateAofTail(leader, durable);
    await leader.start();
    assert.equal((await keysOf(leader)).has("acknowledged-by-the-replicas"), false);
    const leaderKeys = (await keysOf(leader)).size;
    const donor = await furthestFollower(h);
    const before = await keysOnAnyPod(h);
    const syncsBefore = await syncsServed(h);

    await h.reconcileUntil("restored", () => linkedToLeader(h));

    assert.deepEqual(await missingKeys(h, before), []);
    assert.equal(await infoField(leader, "replication", "connected_slaves"), "2");
    await assertOnlyDonorFullSync(h, syncsBefore, donor.ordinal);
    const name = `dr-${donor.ordinal}`;
    assert.deepEqual(
      h.events.filter((e) => e.reason === "LeaderCatchingUp"),
      [
        {
          type: "Warning",
          reason: "LeaderCatchingUp",
          message:
            `dr-0 is not a primary and must copy from ${name} first: dr-0 restarted onto a replication ` +
            `history of its own, at offset 0 with ${leaderKeys} keys, while ${name} kept the history dr-0 was ` +
            `on and is the furthest ahead on it, at offset ${donor.offset} with ${donor.keys} keys: a full ` +
            `copy of ${name} replaces dr-0's data`,
        },
      ],
    );
    const client = leader.client();
    assert.equal(await client.set("written-after-the-restart", "1"), "OK");
    client.disconnect();
    await waitFor("replicated", async () => (await keysOf(h.pods[1]!)).has("written-after-the-restart"));
  });
});
