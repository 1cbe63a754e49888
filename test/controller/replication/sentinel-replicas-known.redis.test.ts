/**
 * Sentinel elects only a replica it knows, and learns a primary's replicas only from the primary's INFO: when it
 * connects to it (told to monitor it), then every 10 s — and never while the primary hangs. These tests make
 * the 10 s INFO never come (SENTINEL DEBUG info-period), so that a Sentinel knows exactly what its first INFO
 * told it, as it does when the primary hangs before the next one:
 *   - the Sentinels of a new cluster are told to monitor the primary only once it lists the replicas re-pointed
 *     at it, even when they are slow to connect; a primary that then hangs is failed over, nothing lost;
 *   - Sentinels that answer only on the pass after the one that re-pointed the replicas (they start beside
 *     Redis) are told once the primary lists those replicas too;
 *   - a replica that joins after the Sentinels were told is not counted as protection (SentinelProtected)
 *     until every Sentinel knows it.
 * Loopback ranges: 127.24.5.0/24, 127.24.6.0/24 and 127.24.7.0/24.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { RedisAdminFactory } from "../../../controller/redis/admin-port.ts";
import { ioredisAdminFactory } from "../../../controller/redis/ioredis-admin.ts";
import { DrHarness, infoField, keysOf } from "../../support/dr-harness.ts";
import { waitFor } from "../../support/redis-process.ts";
import { SentinelProcess } from "../../support/sentinel-process.ts";

/** A cluster of 3 pods in sentinel mode, whose Sentinels start monitoring nothing, as the sidecars do. */
function sentinelCluster(prefix: string) {
  const h = new DrHarness(prefix);
  h.spec = { instances: 3, mode: "sentinel", authSecret: { name: "dr-auth" } };
  const sentinels = h.pods.map(
    (pod) => new SentinelProcess(pod.host, { name: "dr", host: h.pods[0]!.host, quorum: 2, atBoot: false }),
  );
  return { h, sentinels };
}

const names = (pods: readonly { name: string }[] | undefined): string[] =>
  (pods ?? []).map((pod) => pod.name).sort();

/** SENTINEL DEBUG info-period on every Sentinel: how often it sends INFO to the instances it knows. */
async function setInfoPeriod(sentinels: readonly SentinelProcess[], ms: number): Promise<void> {
  await Promise.all(sentinels.map((sentinel) => sentinel.debug("info-period", String(ms))));
}

/** Passes every 200 ms until `done` (at most 100: bounds of tens of seconds, as Sentinel's INFO is due). */
const reconcileUntil = (
  h: DrHarness,
  what: string,
  done: () => boolean | Promise<boolean>,
  factory?: RedisAdminFactory,
): Promise<void> => h.reconcileUntil(what, done, 100, factory);

const protection = (h: DrHarness) => h.condition("SentinelProtected");

async function configValue(h: DrHarness, ordinal: number, parameter: string): Promise<string | undefined> {
  const client = h.pods[ordinal]!.client();
  try {
    return ((await client.config("GET", parameter)) as string[])[1];
  } finally {
    client.disconnect();
  }
}

/** Writes `count` keys on the primary and waits until both replicas acknowledged them. */
async function writeAcknowledged(h: DrHarness, ordinal: number, count: number): Promise<void> {
  const writer = h.pods[ordinal]!.client();
  try {
    for (let i = 0; i < count; i++) await writer.set(`k-${i}`, "v");
    assert.equal(await writer.call("WAIT", "2", "5000"), 2);
  } finally {
    writer.disconnect();
  }
}

/** Hangs the primary dr-0 and waits for Sentinel to elect a replica; returns its ordinal. */
async function hangPrimaryUntilFailover(
  h: DrHarness,
  sentinels: readonly SentinelProcess[],
): Promise<number> {
  h.pods[0]!.pause();
  // From here on the Sentinels' INFO is due as usual (every 10 s, each second while the primary is down):
  // what they did not learn from the primary before it hung, they cannot learn any more.
  await setInfoPeriod(sentinels, 10_000);
  let elected = -1;
  // A bound, not a speed: down-after-milliseconds is 5 s, and a Sentinel that finds no replica it may elect
  // retries only after twice failover-timeout (60 s).
  await waitFor(
    "Sentinel electing a replica",
    async () => {
      for (const ordinal of [1, 2]) {
        if ((await infoField(h.pods[ordinal]!, "replication", "role").catch(() => "")) === "master") {
          elected = ordinal;
          return true;
        }
      }
      return false;
    },
    40_000,
  );
  return elected;
}

describe("Sentinels know the replicas they may elect", () => {
  describe("a new cluster whose replicas connect slowly", () => {
    const { h, sentinels } = sentinelCluster("127.24.5");
    before(async () => {
      await h.start();
      await Promise.all(sentinels.map((s) => s.start()));
      await setInfoPeriod(sentinels, 600_000);
    });
    after(async () => {
      await Promise.all(sentinels.map((s) => s.stop()));
      await h.stop();
    });

    it("tells the Sentinels once the primary lists its replicas; a primary that then hangs is failed over, nothing lost", async () => {
      // Fault: each replica hangs for 400 ms right after it is re-pointed, before it connects to the primary.
      const slowToConnect: RedisAdminFactory = {
        connect(endpoint) {
          const admin = ioredisAdminFactory({ connectTimeoutMs: 500 }).connect(endpoint);
          const pod = h.pods.find((p) => p.host === endpoint.host && p.port === endpoint.port);
          if (pod === undefined) return admin;
          const replicaOf = async (host: string, port: number): Promise<void> => {
            await admin.replicaOf(host, port);
            if (host !== h.pods[0]!.host) return;
            pod.pause();
            setTimeout(() => pod.resume(), 400);
          };
          return new Proxy(admin, {
            get: (target, property, receiver) =>
              property === "replicaOf" ? replicaOf : (Reflect.get(target, property, receiver) as unknown),
          });
        },
      };
      await reconcileUntil(h, "protected by Sentinel", () => protection(h)?.status === "True", slowToConnect);
      assert.equal(h.status.currentPrimary, "dr-0");
      assert.match(
        protection(h)?.message ?? "",
        /^3 of 3 Sentinels monitor dr-0 \(quorum 2\); 2 replica\(s\)/,
      );
      // Each Sentinel knows both replicas from the one INFO it sent when it was told.
      for (const sentinel of sentinels) assert.equal(await sentinel.knownReplicas(), 2);

      await writeAcknowledged(h, 0, 50);
      const elected = await hangPrimaryUntilFailover(h, sentinels);
      assert.equal((await keysOf(h.pods[elected]!)).size, 50, "keys lost: 0");
      h.pods[0]!.resume();
    });
  });

  describe("Sentinels that come up after the replicas were re-pointed", () => {
    const { h, sentinels } = sentinelCluster("127.24.7");
    before(() => h.start());
    after(async () => {
      await Promise.all(sentinels.map((s) => s.stop()));
      await h.stop();
    });

    it("are told once the primary lists the replicas an earlier pass re-pointed", async () => {
      // No Sentinel runs on the pass that makes dr-0 the primary and re-points the others at it.
      const first = await h.reconcile();
      assert.equal(h.status.currentPrimary, "dr-0");
      assert.deepEqual(names(first.followingReplicas), ["dr-1", "dr-2"]);
      await Promise.all(sentinels.map((s) => s.start()));
      await setInfoPeriod(sentinels, 600_000);
      // The pass that tells them re-points nothing; it still waits for the primary to list the pods that
      // follow it (re-pointed by the first pass, possibly still connecting), then tells the Sentinels.
      const second = await h.reconcile();
      assert.deepEqual(names(second.followingReplicas), ["dr-1", "dr-2"]);
      for (const [i, sentinel] of sentinels.entries()) {
        await waitFor(
          `Sentinel ${i} knowing both replicas`,
          async () => (await sentinel.knownReplicas()) === 2,
        );
      }
    });
  });

  describe("a replica that joins after the Sentinels were told", () => {
    const { h, sentinels } = sentinelCluster("127.24.6");
    before(async () => {
      // Only the primary's pod runs when the Sentinels are told; its replicas' pods start later.
      await Promise.all([h.source.start(), h.pods[0]!.start()]);
      await Promise.all(sentinels.map((s) => s.start()));
      await setInfoPeriod(sentinels, 600_000);
    });
    after(async () => {
      await Promise.all(sentinels.map((s) => s.stop()));
      await h.stop();
    });

    it("is not counted as protection until every Sentinel knows it", async () => {
      await reconcileUntil(h, "monitored by the Sentinels", () =>
        (protection(h)?.message ?? "").includes("3 of 3 Sentinels monitor dr-0"),
      );
      assert.equal(protection(h)?.reason, "NoElectableReplica");
      // Each Sentinel had its INFO from the primary (once its password was set, SENTINEL SET reconnects it).
      await waitFor(
        "every Sentinel's first INFO from the primary",
        async () => (await Promise.all(sentinels.map((s) => s.infoRefreshed()))).every(Boolean),
        10_000,
      );

      await Promise.all([h.pods[1]!.start(), h.pods[2]!.start()]);
      await reconcileUntil(h, "both replicas electable", async () => {
        for (const ordinal of [1, 2]) {
          if ((await infoField(h.pods[ordinal]!, "replication", "master_link_status")) !== "up") return false;
          if ((await configValue(h, ordinal, "replica-priority")) !== "100") return false;
        }
        return true;
      });
      // The replicas hold the primary's data and may be elected, but no Sentinel has heard of them.
      for (const sentinel of sentinels) assert.equal(await sentinel.knownReplicas(), 0);
      assert.equal(protection(h)?.status, "False");
      assert.equal(protection(h)?.reason, "ReplicasUnknownToSentinels");

      // Sentinel's INFO as usual: the primary's next one tells them.
      await setInfoPeriod(sentinels, 10_000);
      await reconcileUntil(h, "protected by Sentinel", () => protection(h)?.status === "True");
      for (const sentinel of sentinels) assert.equal(await sentinel.knownReplicas(), 2);
      assert.match(protection(h)?.message ?? "", /; 2 replica\(s\) holding its data can be elected:/);

      await setInfoPeriod(sentinels, 600_000);
      await writeAcknowledged(h, 0, 40);
      const elected = await hangPrimaryUntilFailover(h, sentinels);
      assert.equal((await keysOf(h.pods[elected]!)).size, 40, "keys lost: 0");
      h.pods[0]!.resume();
    });
  });
});
