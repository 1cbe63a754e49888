import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ioredisAdminFactory } from "../../../controller/redis/ioredis-admin.ts";
import { AdminPool } from "../../../controller/replication/context.ts";
import { reconcileReplication } from "../../../controller/replication/engine.ts";
import { Interrupted, crashingAfterChanges } from "../../support/crashing-admin.ts";
import {
  DrHarness,
  infoField,
  keysOf,
  keysOnAnyPod,
  missingKeys,
  startWriteLoad,
} from "../../support/dr-harness.ts";
import { waitFor } from "../../support/redis-process.ts";

// This file's loopback range: 127.22.0.0/16, one /24 per scenario.

async function fullSyncs(h: DrHarness): Promise<number> {
  let total = 0;
  for (const pod of h.pods) total += Number(await infoField(pod, "stats", "sync_full"));
  return total;
}

/** Replicating, with keys written under load, then the source killed (the primary region is lost). */
async function replicateThenLoseSource(h: DrHarness, topology: "direct" | "cascade"): Promise<void> {
  h.spec = h.replicaSpec(false, topology);
  await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
  const load = startWriteLoad(h.source);
  await waitFor("some writes replicated", async () => (await keysOf(h.pods[2]!)).size > 200);
  await h.reconcile(); // the controller sees the source's offset while it still can
  await h.source.kill(true);
  const written = await load.stop();
  assert.ok(written > 200);
}

async function assertPromoted(
  h: DrHarness,
  before: ReadonlySet<string>,
  fullSyncsBefore: number,
): Promise<void> {
  const leader = h.pods[0]!;
  assert.equal(await infoField(leader, "replication", "role"), "master");
  assert.equal(await infoField(leader, "replication", "connected_slaves"), String(h.pods.length - 1));
  const client = leader.client();
  assert.equal(await client.set("written-after-promotion", "1"), "OK");
  client.disconnect();
  assert.equal(await fullSyncs(h), fullSyncsBefore, "a re-pointed pod needed a full resync");
  assert.deepEqual(await missingKeys(h, before), []);
  assert.equal(h.status.promotion?.phase, "Completed");
  assert.equal(h.status.promotion?.formerSource, "prod-east");
  assert.equal(h.status.promotion?.replicationId, await infoField(leader, "replication", "master_replid"));
  assert.equal(h.status.currentPrimary, "dr-0");
  assert.equal(h.status.replication, undefined);
  const condition = h.condition("ReplicaMode");
  assert.equal(condition?.status, "False");
  assert.equal(condition?.reason, "Promoted");
  assert.equal(condition?.message, "Cluster promoted to standalone (former source: prod-east)");
  for (const pod of h.pods.slice(1)) {
    assert.equal(await infoField(pod, "replication", "master_host"), leader.host);
    assert.equal(await infoField(pod, "replication", "master_link_status"), "up");
  }
  // The replicas are announced by their own address again (not as a source's foreign replica): the
  // cluster's own Sentinels, if any, can reach every one.
  const reader = leader.client();
  const listed = await reader.info("replication");
  // The leader too: should Sentinel ever make it a replica, its own cluster must be able to reach it.
  assert.deepEqual(await reader.config("GET", "replica-announce-ip"), ["replica-announce-ip", ""]);
  reader.disconnect();
  assert.deepEqual(
    [...listed.matchAll(/^slave\d+:ip=([^,]+),port=(\d+)/gm)].map((m) => m[1]).sort(),
    h.pods
      .slice(1)
      .map((p) => p.host)
      .sort(),
  );
}

for (const [topology, net] of [
  ["direct", "127.22.1"],
  ["cascade", "127.22.2"],
] as const) {
  describe(`promotion under a write load, ${topology} topology`, () => {
    const h = new DrHarness(net);
    before(() => h.start());
    after(() => h.stop());

    it("promotes the leader with zero full resyncs and every key kept", async () => {
      await replicateThenLoseSource(h, topology);
      const before = await keysOnAnyPod(h);
      const fullSyncsBefore = await fullSyncs(h);
      h.spec = h.replicaSpec(true, topology);
      await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
      await h.reconcile();
      await assertPromoted(h, before, fullSyncsBefore);
      assert.deepEqual(
        h.events
          .filter((e) => e.reason.startsWith("Promotion") || e.reason === "LeaderPromoted")
          .map((e) => e.reason)
          .filter((r) => r !== "PromotionCatchingUp"),
        ["PromotionRequested", "LeaderPromoted", "PromotionCompleted"],
      );
      // The source was gone at promotion: the window is measured against its last seen offset, a lower bound.
      const promotion = h.status.promotion;
      assert.equal(typeof promotion?.lagAtPromotionBytes, "number");
      assert.equal(promotion?.lagAtPromotionIsLowerBound, true);
      assert.equal(
        promotion?.sourceLastSeen,
        h.status.replication?.sourceLastSeen ?? promotion?.sourceLastSeen,
      );
      assert.match(promotion?.sourceLastSeen ?? "", /^\d{4}-\d\d-\d\dT/);
      const promoted = h.events.find((e) => e.reason === "LeaderPromoted")?.message ?? "";
      assert.ok(
        promoted.endsWith(
          `it was at least ${promotion?.lagAtPromotionBytes} bytes behind prod-east when replication was broken ` +
            `(prod-east could not be asked; it was last seen at ${promotion?.sourceLastSeen}, and writes it took ` +
            "after that are lost too)",
        ),
        promoted,
      );
      assert.equal(typeof h.status.promotion?.requestedAt, "string");
      assert.equal(typeof h.status.promotion?.completedAt, "string");
    });
  });
}

/** Puts the leader behind: it stops following the source while the others keep receiving writes. */
async function leaderFallsBehind(h: DrHarness): Promise<void> {
  h.spec = h.replicaSpec(false, "direct");
  await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
  const client = h.source.client();
  for (let i = 0; i < 50; i++) await client.set(`early-${i}`, String(i));
  await waitFor("early keys on the leader", async () => (await keysOf(h.pods[0]!)).has("early-49"));
  const leader = h.pods[0]!.client();
  await leader.call("REPLICAOF", "127.0.0.1", "1");
  leader.disconnect();
  for (let i = 0; i < 100; i++) await client.set(`late-${i}`, String(i));
  client.disconnect();
  await waitFor("late keys on the other pods", async () => {
    for (const pod of h.pods.slice(1)) if (!(await keysOf(pod)).has("late-99")) return false;
    return true;
  });
  await h.source.kill(true);
  assert.equal((await keysOf(h.pods[0]!)).has("late-0"), false);
}

describe("a pod ahead of the leader at promotion time", () => {
  const h = new DrHarness("127.22.3");
  before(() => h.start());
  after(() => h.stop());

  it("loses nothing: the leader catches up from it with a partial resync first", async () => {
    await leaderFallsBehind(h);
    const before = await keysOnAnyPod(h);
    const fullSyncsBefore = await fullSyncs(h);
    h.spec = h.replicaSpec(true, "direct");
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    await assertPromoted(h, before, fullSyncsBefore);
    const catchingUp = h.events.find((e) => e.reason === "PromotionCatchingUp");
    assert.match(
      catchingUp?.message ?? "",
      /^dr-1 is \d+ bytes ahead of dr-0: catching up before promotion$/,
    );
  });
});

describe("a controller killed after every single step of a promotion", () => {
  const h = new DrHarness("127.22.4");
  before(() => h.start());
  after(() => h.stop());

  it("finishes the promotion after each restart, with the same result", async () => {
    await leaderFallsBehind(h);
    const before = await keysOnAnyPod(h);
    const fullSyncsBefore = await fullSyncs(h);
    h.spec = h.replicaSpec(true, "direct");
    const crashes: string[] = [];
    let finished = false;
    for (let run = 0; run < 80 && !finished; run++) {
      let changed = false;
      const crash = (what: string) => {
        if (changed) return;
        changed = true;
        crashes.push(
          `${what.startsWith("status write") ? what : `${h.status.promotion?.phase ?? "none"}: ${what}`}`,
        );
        throw new Interrupted(what);
      };
      const pool = new AdminPool(crashingAfterChanges(ioredisAdminFactory({ connectTimeoutMs: 500 }), crash));
      const ctx = h.context(pool, async (tx) => {
        const phase = h.status.promotion?.phase ?? "none";
        h.status = tx(h.status);
        crash(`status write (from ${phase})`);
      });
      try {
        const result = await reconcileReplication(ctx);
        finished = h.status.promotion?.phase === "Completed" && result.requeueAfterMs === undefined;
      } catch (error) {
        if (!(error instanceof Interrupted)) throw error;
      } finally {
        await pool.closeAll();
      }
    }
    assert.ok(finished, `not finished after ${crashes.length} crashes: ${crashes.join("; ")}`);
    assert.ok(crashes.includes("status write (from none)"));
    for (const phase of ["CatchingUp", "Promoting", "Reattaching"]) {
      assert.ok(
        crashes.some((c) => c.startsWith(`${phase}:`)),
        `never crashed in ${phase}: ${crashes.join("; ")}`,
      );
    }
    assert.ok(crashes.some((c) => c.includes("REPLICAOF NO ONE")));
    // The engine's own commit of Completed names the primary (no report ran here): the report after it may
    // not reach the leader (a partition that just healed) and keeps what status says.
    assert.equal(h.status.currentPrimary, "dr-0");
    await h.reconcile();
    await assertPromoted(h, before, fullSyncsBefore);
  });
});

describe("the write of Promoting refused by the API server", () => {
  const h = new DrHarness("127.22.9");
  before(() => h.start());
  after(() => h.stop());

  it("makes no pod a primary until Promoting is recorded, then promotes", async () => {
    h.spec = h.replicaSpec(false, "direct");
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
    h.spec = h.replicaSpec(true, "direct");
    const pool = new AdminPool(ioredisAdminFactory({ connectTimeoutMs: 500 }));
    // The pods are asked beside this write: a refused write must still stop the promotion before any change.
    const ctx = h.context(pool, async (tx) => {
      const next = tx(h.status);
      if (next.promotion?.phase === "Promoting") throw new Error("the API server refused the write");
      h.status = next;
    });
    try {
      await assert.rejects(reconcileReplication(ctx), /the API server refused the write/);
    } finally {
      await pool.closeAll();
    }
    assert.equal(h.status.promotion?.phase, "CatchingUp");
    for (const pod of h.pods) assert.equal(await infoField(pod, "replication", "role"), "slave");
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    assert.equal(await infoField(h.pods[0]!, "replication", "role"), "master");
  });
});

describe("demotion of a promoted cluster", () => {
  const h = new DrHarness("127.22.5");
  before(() => h.start());
  after(() => h.stop());

  it("is refused without the token, and with it discards the promoted writes and replicates again", async () => {
    await replicateThenLoseSource(h, "direct");
    h.spec = h.replicaSpec(true, "direct");
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    const replicationId = h.status.promotion?.replicationId ?? "";
    const promotedOffset = h.status.promotion?.promotedOffset ?? 0;
    const leader = h.pods[0]!.client();
    for (let i = 0; i < 10; i++) await leader.set(`post-promotion-${i}`, "x".repeat(100));
    leader.disconnect();

    // The source region is back (empty: it lost everything) and someone reverts promote without the token.
    await h.source.start();
    h.spec = h.replicaSpec(false, "direct");
    await h.reconcile();
    assert.equal(h.status.promotion?.phase, "Completed");
    assert.equal(await infoField(h.pods[0]!, "replication", "role"), "master");
    assert.ok(
      h.events.some((e) => e.reason === "DemotionRefused" && e.message.includes(`"${replicationId}"`)),
    );

    const leaderOffset = Number(await infoField(h.pods[0]!, "replication", "master_repl_offset"));
    h.spec = {
      ...h.replicaSpec(false, "direct"),
      replicaMode: { ...h.replicaSpec(false, "direct").replicaMode, demotionToken: replicationId },
    };
    await h.reconcileUntil("demoted", () => h.status.lastDemotion?.completedAt !== undefined);
    assert.equal(h.status.promotion, undefined);
    assert.equal(h.status.lastDemotion?.replicationId, replicationId);
    assert.equal(h.status.lastDemotion?.discardedBytes, leaderOffset - promotedOffset);
    const demoted = h.events.find((e) => e.reason === "Demoted");
    assert.equal(
      demoted?.message,
      `Promotion ${replicationId} reverted on request: ${leaderOffset - promotedOffset} bytes written since the promotion are discarded; the pods resynchronise from prod-east`,
    );
    await h.reconcileUntil("replicating", () => h.status.replication?.linkStatus === "Up");
    assert.equal(h.condition("ReplicaMode")?.reason, "Enabled");
    for (const pod of h.pods) {
      assert.equal(await infoField(pod, "replication", "master_host"), h.source.host);
    }
    await waitFor("the promoted writes are gone", async () => (await keysOf(h.pods[0]!)).size === 0);
  });
});

describe("a DR drill: promotion while the source is still up", () => {
  const h = new DrHarness("127.22.6");
  before(() => h.start());
  after(() => h.stop());

  it("detaches every pod from the source first, so the data-loss window is exactly zero", async () => {
    h.spec = h.replicaSpec(false, "direct");
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
    const load = startWriteLoad(h.source, "drill");
    await waitFor("writes replicated", async () => (await keysOf(h.pods[2]!)).size > 200);
    await load.stop();
    await h.reconcileUntil("caught up", async () => h.status.replication?.lagBytes === 0);
    const before = await keysOnAnyPod(h);
    const fullSyncsBefore = await fullSyncs(h);
    h.spec = h.replicaSpec(true, "direct");
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    await assertPromoted(h, before, fullSyncsBefore);
    assert.equal(h.status.promotion?.lagAtPromotionBytes, 0);
    // The source answered at promotion: the figure is exact.
    assert.equal(h.status.promotion?.lagAtPromotionIsLowerBound, undefined);
    assert.match(
      h.events.find((e) => e.reason === "LeaderPromoted")?.message ?? "",
      /it was 0 bytes behind \S+ when replication was broken$/,
    );
    assert.equal(
      h.status.promotion?.promotedOffset,
      Number(await infoField(h.source, "replication", "master_repl_offset")),
    );
    assert.equal(await infoField(h.source, "replication", "connected_slaves"), "0");
  });
});

describe("a promotion while the source hangs (its region accepts connections and never answers)", () => {
  const h = new DrHarness("127.22.8");
  before(() => h.start());
  after(async () => {
    h.source.resume();
    await h.stop();
  });

  it("does not wait for the source: the window is a lower bound and the leader takes writes", async () => {
    h.spec = h.replicaSpec(false, "direct");
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
    const writer = h.source.client();
    for (let i = 0; i < 100; i++) await writer.set(`hang-${i}`, String(i));
    writer.disconnect();
    await h.reconcileUntil("caught up", async () => h.status.replication?.lagBytes === 0);
    const before = await keysOnAnyPod(h);
    const fullSyncsBefore = await fullSyncs(h);
    // SIGSTOP: the kernel still completes the source's TCP handshakes, and nothing ever answers.
    h.source.pause();
    h.spec = h.replicaSpec(true, "direct");
    // A controller whose own timeouts are a minute: only the promotion's bound on the source can end the pass.
    const patient = ioredisAdminFactory({ connectTimeoutMs: 60_000, commandTimeoutMs: 60_000 });
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("the promotion waited for a source that never answers")),
        20_000,
      );
    });
    try {
      await Promise.race([h.reconcile(patient), stuck]);
    } finally {
      clearTimeout(timer);
    }
    assert.equal(h.status.promotion?.phase, "Completed");
    await assertPromoted(h, before, fullSyncsBefore);
    assert.equal(h.status.promotion?.lagAtPromotionIsLowerBound, true);
    assert.equal(h.status.promotion?.lagAtPromotionBytes, 0);
    assert.match(
      h.events.find((e) => e.reason === "LeaderPromoted")?.message ?? "",
      /it was at least 0 bytes behind prod-east when replication was broken \(prod-east could not be asked;/,
    );
  });
});

describe("a single-instance DR cluster", () => {
  const h = new DrHarness("127.22.7", 1);
  before(() => h.start());
  after(() => h.stop());

  it("replicates and promotes its only pod", async () => {
    h.spec = h.replicaSpec(false, "direct");
    const writer = h.source.client();
    for (let i = 0; i < 10; i++) await writer.set(`one-${i}`, "v");
    writer.disconnect();
    await h.reconcileUntil(
      "caught up",
      async () => h.status.replication?.lagBytes === 0 && (await keysOf(h.pods[0]!)).size === 10,
    );
    await h.source.kill(true);
    h.spec = h.replicaSpec(true, "direct");
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    assert.equal(await infoField(h.pods[0]!, "replication", "role"), "master");
    assert.equal((await keysOf(h.pods[0]!)).size, 10);
    assert.equal(h.condition("ReplicaMode")?.reason, "Promoted");
  });
});
