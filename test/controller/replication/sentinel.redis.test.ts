import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { SENTINEL_USER } from "../../../controller/redis/users.ts";
import { CLUSTER_PASSWORD, CLUSTER_USERS, DrHarness, infoField, keysOf } from "../../support/dr-harness.ts";
import { waitFor } from "../../support/redis-process.ts";
import { SentinelProcess } from "../../support/sentinel-process.ts";

// This file's loopback range: 127.23.6.0/24 (127.23.x is shared by /24: test/support/loopback.ts).

describe("sentinel mode", () => {
  const h = new DrHarness("127.23.6");
  const sentinels = h.pods.map(
    (pod) =>
      new SentinelProcess(pod.host, {
        name: "dr",
        host: h.pods[0]!.host,
        quorum: 2,
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

  const primaryNow = async () => {
    for (const [ordinal, pod] of h.pods.entries()) {
      if ((await infoField(pod, "replication", "role").catch(() => undefined)) === "master") return ordinal;
    }
    return undefined;
  };

  it("bootstraps the designated leader as the primary", async () => {
    h.spec = { instances: 3, mode: "sentinel", authSecret: { name: "dr-auth" } };
    await h.reconcileUntil("formed", async () =>
      (await h.report()).figures.every((f) => f.pod === "dr-0" || f.linkUp === 1),
    );
    assert.equal(await infoField(h.pods[0]!, "replication", "connected_slaves"), "2");
    assert.equal(h.status.currentPrimary, "dr-0");
    const writer = h.pods[0]!.client();
    for (let i = 0; i < 30; i++) await writer.set(`s-${i}`, "v");
    await writer.call("WAIT", "2", "2000");
    writer.disconnect();
  });

  it("Sentinels obey only the controller: a client without its password cannot fail over or re-monitor", async () => {
    const sentinelAs = async (login: { username?: string; password?: string }, ...args: string[]) => {
      const client = new Redis({ host: h.pods[1]!.host, port: 26379, ...login, retryStrategy: () => null });
      client.on("error", () => undefined);
      try {
        return await client.call("SENTINEL", ...args).then(
          (reply) => reply,
          (error: Error) => error.message,
        );
      } finally {
        client.disconnect();
      }
    };
    const orders = [
      ["FAILOVER", "dr"],
      ["SET", "dr", "down-after-milliseconds", "1"],
      ["MONITOR", "evil", h.pods[2]!.host, "6379", "1"],
      ["REMOVE", "dr"],
    ];
    for (const order of orders) {
      const sub = order[0]!.toLowerCase();
      // (ioredis' first command on a connection without a password is HELLO, refused as NOAUTH too.)
      assert.match(String(await sentinelAs({}, ...order)), /^NOAUTH /);
      // The application's password discovers the primary and nothing more.
      assert.equal(
        await sentinelAs({ password: CLUSTER_PASSWORD }, ...order),
        `NOPERM this user has no permissions to run the 'sentinel|${sub}' command`,
      );
    }
    assert.deepEqual(await sentinelAs({ password: CLUSTER_PASSWORD }, "GET-MASTER-ADDR-BY-NAME", "dr"), [
      h.pods[0]!.host,
      "6379",
    ]);
    // Sentinel reaches the pods as its own user, which may not read or change their configuration.
    const asSentinel = h.pods[0]!.client({ username: SENTINEL_USER, password: CLUSTER_USERS.sentinel });
    try {
      await assert.rejects(asSentinel.config("GET", "masterauth"), /NOPERM/);
      await assert.rejects(asSentinel.get("s-1"), /NOPERM/);
    } finally {
      asSentinel.disconnect();
    }
  });

  it("follows the primary Sentinel elects when the leader dies, and never takes it back", async () => {
    // Sentinel learns the replicas from the primary's INFO, every 10 s.
    await waitFor(
      "Sentinels know both replicas",
      async () => {
        for (const sentinel of sentinels) if ((await sentinel.knownReplicas()) !== 2) return false;
        return true;
      },
      30000,
    );
    // Sentinel elects only replicas the controller saw holding the primary's data (replica-priority 100).
    await h.reconcileUntil(
      "replicas electable",
      () => h.status.conditions?.find((c) => c.type === "SentinelProtected")?.status === "True",
    );
    await h.pods[0]!.kill(true);
    const elected = await (async () => {
      let found: number | undefined;
      await waitFor("Sentinel failover", async () => ((found = await primaryNow()) ?? 0) > 0, 30000);
      return found ?? -1;
    })();
    await h.reconcileUntil("following", () => h.status.currentPrimary === `dr-${elected}`);

    // The old leader comes back parked, with its data; it joins the new primary as a replica.
    await h.pods[0]!.start();
    await h.reconcileUntil("old leader re-attached", async () => {
      return (
        (await infoField(h.pods[0]!, "replication", "master_host")) === h.pods[elected]!.host &&
        (await infoField(h.pods[0]!, "replication", "master_link_status")) === "up"
      );
    });
    assert.equal(await infoField(h.pods[elected]!, "replication", "role"), "master");
    assert.equal(h.status.currentPrimary, `dr-${elected}`);
    for (const pod of h.pods) assert.equal((await keysOf(pod)).size, 30);
  });

  it("restores a primary re-pointed without a restart (at itself, through a hairpin), without asking for a failover", async () => {
    // Every Sentinel names the same primary and none is still in a failover. On a loaded machine that may be
    // another pod than the one the last test ended with (down-after-milliseconds is 1 s here): the
    // controller is reconciled until it follows the Sentinels' choice, and that pod is the one re-pointed.
    let named: string | undefined;
    await waitFor(
      "every Sentinel names one primary, its failover over",
      async () => {
        const hosts = new Set<string | undefined>();
        for (const sentinel of sentinels) {
          if (await sentinel.failingOver()) return false;
          hosts.add(await sentinel.primaryHost());
        }
        named = hosts.size === 1 ? [...hosts][0] : undefined;
        return named !== undefined;
      },
      60000,
    );
    const ordinal = h.pods.findIndex((pod) => pod.host === named);
    assert.ok(ordinal >= 0, `the Sentinels name ${named}, no pod of the cluster`);
    await h.reconcileUntil(
      "following the Sentinels' primary",
      () => h.status.currentPrimary === `dr-${ordinal}`,
    );
    const target = h.pods[ordinal]!;
    const eventsBefore = h.events.length;
    // The Sentinels' own verdict (a primary reporting as a replica is down after down-after-milliseconds +
    // 2 s) is kept out of the way: what is tested is the controller's.
    await Promise.all(sentinels.map((s) => s.set("down-after-milliseconds", "60000")));
    // What a Sentinel does to a "replica" whose address leads back to the primary: REPLICAOF the primary.
    const client = target.client();
    await client.call("REPLICAOF", target.host, String(target.port));
    client.disconnect();
    await h.reconcileUntil("primary restored", async () => (await primaryNow()) === ordinal);
    const events = h.events.slice(eventsBefore);
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.reason}: ${e.message}`),
      [
        `Warning PrimaryRepointed: dr-${ordinal}, the primary the Sentinels name, was found replicating from ` +
          `${target.host}:${target.port} without having restarted; no other pod is a primary, so it is made the primary again`,
      ],
    );
    assert.equal(h.status.currentPrimary, `dr-${ordinal}`);
    for (const pod of h.pods) assert.equal((await keysOf(pod)).size, 30);
  });
});
