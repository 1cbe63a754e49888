import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TcpProxy } from "../../support/tcp-proxy.ts";
import { REPLICATION_USER } from "../../../controller/redis/users.ts";
import {
  DrHarness,
  SOURCE_PASSWORD,
  CLUSTER_PASSWORD,
  CLUSTER_USERS,
  infoField,
  keysOf,
} from "../../support/dr-harness.ts";
import { waitFor } from "../../support/redis-process.ts";

// This file's loopback range: 127.21.0.0/16, one /24 per scenario.

async function writeKeys(h: DrHarness, prefix: string, count: number): Promise<void> {
  const client = h.source.client();
  try {
    for (let i = 0; i < count; i++) await client.set(`${prefix}-${i}`, String(i));
  } finally {
    client.disconnect();
  }
}

async function allPodsHave(h: DrHarness, keys: readonly string[]): Promise<boolean> {
  for (const pod of h.pods) {
    const present = await keysOf(pod);
    if (!keys.every((k) => present.has(k))) return false;
  }
  return true;
}

for (const [topology, net] of [
  ["direct", "127.21.11"],
  ["cascade", "127.21.12"],
] as const) {
  describe(`replica mode, ${topology} topology`, () => {
    const h = new DrHarness(net);
    before(async () => {
      await h.start();
      h.spec = h.replicaSpec(false, topology);
      await writeKeys(h, "before", 20);
    });
    after(() => h.stop());

    it("replicates every key of the source to every pod", async () => {
      await h.reconcileUntil("linked", async () => h.status.replication?.linkStatus === "Up");
      await writeKeys(h, "after", 20);
      const expected = [...Array(20).keys()].flatMap((i) => [`before-${i}`, `after-${i}`]);
      await waitFor("keys on every pod", () => allPodsHave(h, expected));
    });

    it("shows every pod as a linked replica of its upstream", async () => {
      await h.reconcileUntil("all linked", async () =>
        (await h.report()).figures.every((f) => f.linkUp === 1),
      );
      for (const [ordinal, pod] of h.pods.entries()) {
        assert.equal(await infoField(pod, "replication", "role"), "slave");
        assert.equal(await infoField(pod, "replication", "master_link_status"), "up");
        const upstream = topology === "cascade" && ordinal > 0 ? h.pods[0]?.host : h.source.host;
        assert.equal(await infoField(pod, "replication", "master_host"), upstream);
      }
      assert.equal(
        await infoField(h.source, "replication", "connected_slaves"),
        topology === "cascade" ? "1" : "3",
      );
    });

    it("announces each pod to the source by a name that never resolves, so the source's Sentinels never reach one", async () => {
      const listed = async (p: (typeof h.pods)[number]) => {
        const client = p.client();
        try {
          const info = String(await client.info("replication"));
          return [...info.matchAll(/^slave\d+:ip=([^,]+),port=(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`).sort();
        } finally {
          client.disconnect();
        }
      };
      const followers = topology === "cascade" ? ["dr-0"] : ["dr-0", "dr-1", "dr-2"];
      assert.deepEqual(
        await listed(h.source),
        followers.map((name) => `${name}.dr-replica.invalid:6379`),
      );
      // Followers of the leader announce their own address: once promoted, the leader's own Sentinels find them.
      if (topology === "cascade") {
        assert.deepEqual(await listed(h.pods[0]!), [`${h.pods[1]!.host}:6379`, `${h.pods[2]!.host}:6379`]);
      }
      for (const pod of h.pods) assert.equal(await infoField(pod, "replication", "role"), "slave");
    });

    it("reports ReplicaMode True/Enabled with the reference's message and the lag against the source", async () => {
      await h.reconcileUntil("caught up", async () => h.status.replication?.lagBytes === 0);
      const condition = h.condition("ReplicaMode");
      assert.equal(condition?.status, "True");
      assert.equal(condition?.reason, "Enabled");
      assert.equal(condition?.message, `Cluster is replicating from prod-east (${net}.1:6379)`);
      assert.equal(h.condition("ReplicationHealthy")?.status, "True");
      const sourceOffset = Number(await infoField(h.source, "replication", "master_repl_offset"));
      assert.equal(h.status.replication?.replicatingFrom, "prod-east");
      assert.equal(h.status.replication?.sourceEndpoint, `${net}.1:6379`);
      assert.ok((h.status.replication?.sourceOffset ?? 0) <= sourceOffset);
      assert.equal(h.status.replication?.leaderOffset, h.status.replication?.sourceOffset);
    });

    it("logs each pod in to its upstream: the source's default user, or the leader's replication user", async () => {
      for (const [ordinal, pod] of h.pods.entries()) {
        // As the controller's admin user: the application's password may not read masterauth.
        const client = pod.client();
        const [, masteruser] = (await client.config("GET", "masteruser")) as [string, string];
        const [, masterauth] = (await client.config("GET", "masterauth")) as [string, string];
        client.disconnect();
        const followsLeader = topology === "cascade" && ordinal > 0;
        assert.deepEqual(
          [masteruser, masterauth],
          followsLeader ? [REPLICATION_USER, CLUSTER_USERS.replication] : ["", SOURCE_PASSWORD],
        );
      }
    });
  });
}

describe("a partitioned source link", () => {
  const net = "127.21.13";
  const h = new DrHarness(net);
  // The pods reach the source through the proxy (the WAN), and so does the controller.
  const proxy = new TcpProxy(`${net}.2`, 6379, { host: `${net}.1`, port: 6379 });
  before(async () => {
    await h.start();
    await proxy.start();
    h.sourceAddress = { host: proxy.host, port: proxy.port };
    h.spec = h.replicaSpec(false, "direct");
    await writeKeys(h, "k", 10);
    await h.reconcileUntil(
      "caught up",
      async () => h.status.replication?.lagBytes === 0 && h.status.replication.linkStatus === "Up",
    );
    // Status speaks for the leader only: the other pods' first full copies must have started too (the keys
    // are on every pod) before the test counts the source's full syncs, or a late one counts as the
    // partition's on a slow machine.
    const seeded = [...Array(10).keys()].map((i) => `k-${i}`);
    await waitFor("the seed keys on every pod", () => allPodsHave(h, seeded));
  });
  after(async () => {
    await proxy.stop();
    await h.stop();
  });

  it("reports the link down, the link metric at 0 and a growing lag measured against the source", async () => {
    const partialBefore = Number(await infoField(h.source, "stats", "sync_partial_ok"));
    const fullBefore = Number(await infoField(h.source, "stats", "sync_full"));
    proxy.partition(h.pods.map((p) => p.host));
    await writeKeys(h, "during", 50);
    // Only the pods' connections are cut (they come from their own addresses, bind-source-addr): the
    // controller still reads the source's own offset through the proxy, as a controller outside the partition.
    await h.reconcileUntil("link down", async () => h.status.replication?.linkStatus === "Down");
    const sourceOffset = Number(await infoField(h.source, "replication", "master_repl_offset"));
    const leaderOffset = Number(await infoField(h.pods[0]!, "replication", "master_repl_offset"));
    assert.ok(sourceOffset > leaderOffset);
    assert.equal(h.status.replication?.sourceOffset, sourceOffset);
    assert.equal(h.status.replication?.lagBytes, sourceOffset - leaderOffset);
    assert.equal(typeof h.status.replication?.linkDownSince, "string");
    const healthy = h.condition("ReplicationHealthy");
    assert.equal(healthy?.status, "False");
    assert.equal(healthy?.reason, "LinkDown");
    const report = await h.report();
    assert.deepEqual(
      report.figures.map((f) => f.linkUp),
      [0, 0, 0],
    );

    proxy.heal();
    await h.reconcileUntil(
      "healed",
      async () => h.status.replication?.linkStatus === "Up" && h.status.replication.lagBytes === 0,
      60,
    );
    assert.equal(h.status.replication?.linkDownSince, undefined);
    assert.equal(h.condition("ReplicationHealthy")?.status, "True");
    // Every pod resumes with a partial sync (a pod may resume twice when its first reconnect races the heal).
    // Status speaks for the leader: the others reconnect on their own retry, up to a second later.
    await waitFor(
      "every pod resumed with a partial sync",
      async () => Number(await infoField(h.source, "stats", "sync_partial_ok")) >= partialBefore + 3,
    );
    assert.equal(Number(await infoField(h.source, "stats", "sync_full")), fullBefore);
    const during = [...Array(50).keys()].map((i) => `during-${i}`);
    await waitFor("the writes made during the partition on every pod", () => allPodsHave(h, during));
  });
});

describe("a wrong source password", () => {
  const net = "127.21.14";
  const h = new DrHarness(net, 2);
  before(async () => {
    await h.start();
    h.spec = h.replicaSpec(false, "direct");
    h.sourcePassword = "definitely-wrong-pw";
  });
  after(() => h.stop());

  it("says so in the status, keeps reconciling, and never logs or reports the password", async () => {
    for (let i = 0; i < 3; i++) await h.reconcile();
    const healthy = h.condition("ReplicationHealthy");
    assert.equal(healthy?.status, "False");
    assert.equal(healthy?.reason, "LinkDown");
    assert.match(
      healthy?.message ?? "",
      /source prod-east \(127\.21\.14\.1:6379\) rejected the password from Secret prod-auth: check that it matches the source's password/,
    );
    const everything = JSON.stringify({ status: h.status, events: h.events }) + h.logLines.join("");
    for (const secret of ["definitely-wrong-pw", SOURCE_PASSWORD, CLUSTER_PASSWORD]) {
      assert.equal(everything.includes(secret), false, `${secret} leaked`);
    }
    // Fixing the Secret heals the link on the next reconcile.
    h.sourcePassword = SOURCE_PASSWORD;
    await h.reconcileUntil("linked", async () => h.status.replication?.linkStatus === "Up");
    assert.equal(h.condition("ReplicationHealthy")?.status, "True");
  });
});
