import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ADMIN_USER } from "../../../controller/redis/users.ts";
import { CLUSTER_USERS, DrHarness, infoField, keysOf } from "../../support/dr-harness.ts";
import { waitFor } from "../../support/redis-process.ts";
import { SentinelProcess } from "../../support/sentinel-process.ts";

// This file's loopback range: 127.24.4.0/24.

describe("a DR cluster in sentinel mode", () => {
  const h = new DrHarness("127.24.4");
  // Sentinel 0 starts monitoring the designated leader (a leftover config); the others monitor nothing.
  const sentinels = h.pods.map(
    (pod, i) =>
      new SentinelProcess(pod.host, {
        name: "dr",
        host: h.pods[0]!.host,
        quorum: 2,
        atBoot: i === 0,
      }),
  );
  before(async () => {
    await h.start();
    await Promise.all(sentinels.map((s) => s.start()));
  });
  after(async () => {
    await Promise.all(sentinels.map((s) => s.stop()));
    await h.stop();
  });

  // Sentinel kills the client connections of the pods it reconfigures: a reconcile during a failover may see
  // ECONNRESET (the controller retries such a reconcile; so does this test).
  const reconcileThroughFailover = async (what: string, done: () => boolean | Promise<boolean>) => {
    for (let round = 0; round < 40; round++) {
      try {
        await h.reconcile();
      } catch (error) {
        if (!/ECONNRESET|Connection is closed/.test(String(error))) throw error;
      }
      if (await done()) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`still not ${what}; status: ${JSON.stringify(h.status)}`);
  };

  const primaryNow = async () => {
    for (const [ordinal, pod] of h.pods.entries()) {
      if ((await infoField(pod, "replication", "role").catch(() => undefined)) === "master") return ordinal;
    }
    return undefined;
  };

  it("stays a replica of its source: no Sentinel monitors it while it replicates", async () => {
    h.spec = { ...h.replicaSpec(false), mode: "sentinel" };
    const writer = h.source.client();
    for (let i = 0; i < 25; i++) await writer.set(`k-${i}`, "v");
    writer.disconnect();
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
    for (const sentinel of sentinels) assert.deepEqual(await sentinel.monitored(), []);
    const protection = h.status.conditions?.find((c) => c.type === "SentinelProtected");
    assert.equal(`${protection?.status}/${protection?.reason}`, "False/ReplicaCluster");
    assert.equal(await primaryNow(), undefined);
    assert.equal(h.status.currentPrimary, undefined);
  });

  it("after promotion hands failover to Sentinel, which fails over when the primary dies; the controller follows", async () => {
    await h.source.kill(true);
    h.spec = { ...h.replicaSpec(true), mode: "sentinel", minSyncReplicas: 1 };
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    await h.reconcile();
    for (const sentinel of sentinels) assert.deepEqual(await sentinel.monitored(), ["dr"]);
    assert.deepEqual(
      h.events.filter((e) => e.reason === "SentinelMonitoring").map((e) => e.message),
      ["3 Sentinel(s) now monitor dr-0: Sentinel runs the failover of the promoted cluster"],
    );
    assert.equal(h.status.currentPrimary, "dr-0");
    const writer = h.pods[0]!.client();
    await writer.set("after-promotion", "v");
    await writer.call("WAIT", "2", "2000");
    writer.disconnect();
    await waitFor(
      "Sentinels know both replicas",
      async () => {
        for (const sentinel of sentinels) if ((await sentinel.knownReplicas()) !== 2) return false;
        return true;
      },
      30000,
    );
    // Both replicas hold the primary's data: Sentinel may elect either, and status says the cluster is guarded.
    await h.reconcileUntil(
      "protected",
      () => h.status.conditions?.find((c) => c.type === "SentinelProtected")?.status === "True",
    );
    for (const pod of [h.pods[1]!, h.pods[2]!]) {
      const admin = pod.client({ username: ADMIN_USER, password: CLUSTER_USERS.admin });
      assert.deepEqual(await admin.config("GET", "replica-priority"), ["replica-priority", "100"]);
      admin.disconnect();
    }

    await h.pods[0]!.kill(true);
    let elected = -1;
    await waitFor("Sentinel failover", async () => (elected = (await primaryNow()) ?? -1) > 0, 40000);
    await reconcileThroughFailover("following", () => h.status.currentPrimary === `dr-${elected}`);
    assert.deepEqual(
      h.events.filter((e) => e.reason === "SentinelFailover").map((e) => e.message),
      [
        `Sentinel made dr-${elected} the primary (it was dr-0); the leader Service and currentPrimary follow it`,
      ],
    );
    // The primary Sentinel elected enforces minSyncReplicas too, and has its one remaining replica.
    const primary = h.pods[elected]!.client();
    try {
      assert.deepEqual(await primary.config("GET", "min-replicas-to-write"), ["min-replicas-to-write", "1"]);
      await reconcileThroughFailover("one good replica", () => h.status.syncReplicas === 1);
      assert.equal(await primary.set("after-failover", "v"), "OK");
    } finally {
      primary.disconnect();
    }
    assert.equal((await keysOf(h.pods[elected]!)).size, 27);
  });

  it("asks Sentinel to fail over when the primary's process dies and comes straight back parked", async () => {
    // The old leader returns (parked) and is attached to the primary Sentinel elected.
    await h.pods[0]!.start();
    const primaryBefore = Number(h.status.currentPrimary?.slice("dr-".length));
    await reconcileThroughFailover("old leader re-attached", async () => {
      return (await infoField(h.pods[0]!, "replication", "master_link_status")) === "up";
    });
    await waitFor(
      "Sentinels know both replicas again",
      async () => {
        for (const sentinel of sentinels) if ((await sentinel.knownReplicas()) !== 2) return false;
        return true;
      },
      30000,
    );
    // Every Sentinel names the current primary and none is still in the last failover (which lasts until
    // every replica is reconfigured; meanwhile a new one is refused with -INPROG).
    await waitFor(
      "every Sentinel names the current primary, its failover over",
      async () => {
        for (const sentinel of sentinels) {
          if ((await sentinel.primaryHost()) !== h.pods[primaryBefore]!.host) return false;
          if (await sentinel.failingOver()) return false;
        }
        return true;
      },
      60000,
    );
    // Sentinel would notice the lost role itself after down-after-milliseconds (+ 2 s); made long, so that
    // only the controller's request can start this failover.
    await Promise.all(sentinels.map((s) => s.set("down-after-milliseconds", "60000")));
    // A crash and an immediate restart (a kubelet restarts the container at once): the pod is back parked.
    await h.pods[primaryBefore]!.kill(true);
    await h.pods[primaryBefore]!.start();
    await reconcileThroughFailover("a Sentinel failover requested", () =>
      h.events.some((e) => e.reason === "SentinelFailoverRequested"),
    );
    let elected = -1;
    await waitFor(
      "Sentinel failover",
      async () => (elected = (await primaryNow()) ?? -1) >= 0 && elected !== primaryBefore,
      30000,
    );
    await reconcileThroughFailover("following, the restarted pod a replica", async () => {
      return (
        h.status.currentPrimary === `dr-${elected}` &&
        (await infoField(h.pods[primaryBefore]!, "replication", "master_link_status")) === "up"
      );
    });
    assert.equal(await infoField(h.pods[primaryBefore]!, "replication", "role"), "slave");
    assert.deepEqual(
      h.events.filter((e) => e.reason === "SentinelFailover").map((e) => e.message)[1],
      `Sentinel made dr-${elected} the primary (it was dr-${primaryBefore}); the leader Service and currentPrimary follow it`,
    );
    for (const pod of h.pods) assert.equal((await keysOf(pod)).size, 27);
  });
});
