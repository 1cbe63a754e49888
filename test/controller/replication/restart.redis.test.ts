import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DrHarness, infoField, keysOf, waitPersisted } from "../../support/dr-harness.ts";
import { waitFor } from "../../support/redis-process.ts";

// This file's loopback ranges: 127.23.1.0/24 to 127.23.3.0/24, one per scenario (test/support/loopback.ts).

async function seed(h: DrHarness, prefix: string, count: number): Promise<string[]> {
  const client = h.source.client();
  const keys = [...Array(count).keys()].map((i) => `${prefix}-${i}`);
  for (const key of keys) await client.set(key, key);
  client.disconnect();
  return keys;
}

async function everyPodHas(h: DrHarness, keys: readonly string[]): Promise<boolean> {
  for (const pod of h.pods) {
    const present = await keysOf(pod);
    if (!keys.every((k) => present.has(k))) return false;
  }
  return true;
}

async function promote(h: DrHarness): Promise<void> {
  await h.source.kill(true);
  h.spec = h.replicaSpec(true, "direct");
  await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
}

describe("the leader pod restarted in replica mode", () => {
  const h = new DrHarness("127.23.1");
  before(() => h.start());
  after(() => h.stop());

  it("comes back parked with its data, then follows the source again", async () => {
    h.spec = h.replicaSpec(false, "direct");
    const keys = await seed(h, "a", 30);
    await h.reconcileUntil(
      "linked",
      async () => (await everyPodHas(h, keys)) && h.status.replication?.linkStatus === "Up",
    );
    const leader = h.pods[0]!;
    await waitPersisted(leader);
    await leader.kill(true);
    await leader.start();
    assert.equal(await infoField(leader, "replication", "master_host"), "127.0.0.1");
    assert.equal(await infoField(leader, "replication", "master_port"), "1");
    assert.equal((await keysOf(leader)).size, 30);
    await h.reconcileUntil("linked again", () => h.status.replication?.linkStatus === "Up");
    assert.equal(await infoField(leader, "replication", "master_host"), h.source.host);
    const more = await seed(h, "b", 10);
    await waitFor("new keys on the restarted leader", async () => everyPodHas(h, [...keys, ...more]));
  });
});

describe("the leader pod restarted after promotion", () => {
  const h = new DrHarness("127.23.2");
  before(() => h.start());
  after(() => h.stop());

  it("takes no writes until the controller restores it, and loses nothing", async () => {
    h.spec = h.replicaSpec(false, "direct");
    const keys = await seed(h, "a", 30);
    await h.reconcileUntil(
      "linked",
      async () => (await everyPodHas(h, keys)) && h.status.replication?.linkStatus === "Up",
    );
    await promote(h);
    const leader = h.pods[0]!;
    const writer = leader.client();
    for (let i = 0; i < 20; i++) await writer.set(`promoted-${i}`, "v");
    writer.disconnect();
    const all = [...keys, ...[...Array(20).keys()].map((i) => `promoted-${i}`)];
    await waitFor("promoted writes replicated", () => everyPodHas(h, all));

    await waitPersisted(leader);
    await leader.kill(true);
    await leader.start();
    const client = leader.client();
    await assert.rejects(client.set("while-parked", "x"), /READONLY/);
    client.disconnect();
    assert.equal((await keysOf(leader)).size, 50);

    await h.reconcileUntil("restored", async () =>
      (await h.report()).figures.every((f) => f.pod === "dr-0" || f.linkUp === 1),
    );
    assert.equal(await infoField(leader, "replication", "role"), "master");
    assert.equal(await infoField(leader, "replication", "connected_slaves"), "2");
    assert.ok(await everyPodHas(h, all));
    assert.equal(h.status.currentPrimary, "dr-0");
  });
});

describe("the leader pod restarted on an empty volume after promotion", () => {
  const h = new DrHarness("127.23.3");
  before(() => h.start());
  after(() => h.stop());

  it("is never made a primary the others copy: it first copies from a pod that has the data", async () => {
    h.spec = h.replicaSpec(false, "direct");
    const keys = await seed(h, "a", 40);
    await h.reconcileUntil(
      "linked",
      async () => (await everyPodHas(h, keys)) && h.status.replication?.linkStatus === "Up",
    );
    await promote(h);
    const leader = h.pods[0]!;
    await leader.kill(true);
    leader.wipeData();
    await leader.start();
    assert.equal((await keysOf(leader)).size, 0);
    // The followers' link to the parked leader is refused (NOMASTERLINK): they keep their data.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await keysOf(h.pods[1]!)).size, 40);

    await h.reconcileUntil("restored", async () => {
      const figures = (await h.report()).figures;
      return (
        (await infoField(leader, "replication", "role")) === "master" &&
        figures.every((f) => f.pod === "dr-0" || f.linkUp === 1)
      );
    });
    assert.ok(await everyPodHas(h, keys));
    const event = h.events.find((e) => e.reason === "LeaderCatchingUp");
    assert.match(
      event?.message ?? "",
      /^dr-0 is not a primary and dr-\d holds data it lacks \(the leader is empty\); copying from dr-\d first$/,
    );
  });
});
