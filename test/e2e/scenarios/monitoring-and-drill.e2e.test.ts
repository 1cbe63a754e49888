/**
 * The reference's "Monitoring" and "Test failover regularly" sections on the sandbox: redis-west (3 pods)
 * replicates from an external primary (a redis-server standing for us-east-1) through a TCP proxy standing for
 * the cross-region network. The lag and link metrics move as the reference says; then the DR drill: promote,
 * smoke test, demote — the reference's plain `promote: false` refused with the command, which then works.
 * Loopback range 127.33.0.0/16.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RegionLink } from "../../../hack/lib/link.ts";
import { condition, controllerMetrics, metricValue } from "../../../hack/lib/observe.ts";
import { RedisProcess } from "../../support/redis-process.ts";
import {
  applyReplicating,
  everyPodHolds,
  fullSyncsServed,
  podNames,
  promotionCompleted,
  replicaSpec,
  replicating,
  startRegion,
  untilCluster,
  waitFor,
  writeKeys,
  type Region,
} from "../../support/region-fixture.ts";

const NS = "default";
const SOURCE_PASSWORD = "east-pw-33";
const CLUSTER_PASSWORD = "west-pw-33";
const pods = podNames("redis-west", 3);
const source = new RedisProcess({ host: "127.33.60.1", password: SOURCE_PASSWORD });
const wan = new RegionLink("127.33.240.1", 6379, { host: source.host, port: 6379 });

let region: Region;
let written: string[] = [];

before(async () => {
  await source.start();
  await wan.start();
  region = await startRegion(33);
  await region.kubectl.applyPasswordSecret(NS, "redis-east-auth", SOURCE_PASSWORD);
  await region.kubectl.applyPasswordSecret(NS, "redis-west-auth", CLUSTER_PASSWORD);
  written = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "seed", 1000);
  await applyReplicating(
    region,
    NS,
    "redis-west",
    replicaSpec(3, "redis-west-auth", {
      host: wan.host,
      clusterName: "redis-east",
      authSecretName: "redis-east-auth",
    }),
    { pods, password: CLUSTER_PASSWORD, keys: written },
  );
});
after(async () => {
  await region?.stop();
  await wan.stop();
  await source.stop();
});

const series = (pod: string) => ({ namespace: NS, cluster: "redis-west", pod });
const metric = async (name: string, pod: string) =>
  metricValue(await controllerMetrics(region.sb), name, series(pod));

describe("monitoring (the reference's metrics)", () => {
  it("in sync: redis_master_link_up is 1 and redis_replication_lag_bytes 0 for every pod", async () => {
    await waitFor(
      async () => {
        for (const pod of pods) {
          if ((await metric("redis_master_link_up", pod)) !== 1) return false;
          if ((await metric("redis_replication_lag_bytes", pod)) !== 0) return false;
        }
        return true;
      },
      { what: "link up and lag 0 on every pod" },
    );
  });

  it("a slow link under writes: the lag (primary offset minus DR offset) grows in status and metric, then returns to 0", async () => {
    const view = region.view(NS);
    wan.throttle(100_000);
    written = [...written, ...(await writeKeys(source.host, 6379, SOURCE_PASSWORD, "slow", 600, 1000))];
    // The reference's computation: master_repl_offset on the primary minus the DR leader's.
    const lagging = await untilCluster(
      view,
      "redis-west",
      "a lag over 100 kB in status",
      (c) => {
        const r = c.status?.replication;
        return (
          (r?.lagBytes ?? 0) > 100_000 && r?.lagBytes === (r?.sourceOffset ?? 0) - (r?.leaderOffset ?? 0)
        );
      },
      30_000,
    );
    const lag = lagging.status?.replication?.lagBytes ?? 0;
    assert.equal(
      condition(lagging, "ReplicationHealthy")?.message,
      `The leader's link to the source is up, ${lag} bytes behind the source`,
    );
    await waitFor(
      async () => ((await metric("redis_replication_lag_bytes", "redis-west-0")) ?? 0) > 100_000,
      {
        what: "redis_replication_lag_bytes over 100 kB",
        timeoutMs: 10_000,
      },
    );
    wan.heal();
    await waitFor(async () => (await metric("redis_replication_lag_bytes", "redis-west-0")) === 0, {
      what: "lag back to 0",
      timeoutMs: 30_000,
    });
    await everyPodHolds(view, pods, CLUSTER_PASSWORD, written);
  });

  it("a cut link: redis_master_link_up drops to 0 (the RedisReplicationDown alert's expression), then back to 1", async () => {
    wan.cut();
    await waitFor(
      async () => {
        for (const pod of pods) if ((await metric("redis_master_link_up", pod)) !== 0) return false;
        return ((await metric("redis_master_link_down_seconds", "redis-west-0")) ?? 0) > 0;
      },
      { what: "link_up 0 on every pod", timeoutMs: 30_000 },
    );
    wan.heal();
    await waitFor(
      async () => {
        for (const pod of pods) if ((await metric("redis_master_link_up", pod)) !== 1) return false;
        return true;
      },
      { what: "link_up 1 on every pod", timeoutMs: 30_000 },
    );
  });
});

describe("the DR drill (promote, smoke test, demote)", () => {
  let token = "";

  it("promote with the reference's patch: writable, every key kept, no full resync", async () => {
    const view = region.view(NS);
    await everyPodHolds(view, pods, CLUSTER_PASSWORD, written);
    const fullBefore = await fullSyncsServed(view, pods, CLUSTER_PASSWORD);
    await region.kubectl.ok([
      "patch",
      "rediscluster",
      "redis-west",
      "--type=merge",
      "-p",
      '{"spec":{"replicaMode":{"promote":true}}}',
    ]);
    const promoted = await untilCluster(view, "redis-west", "promotion completed", promotionCompleted);
    token = promoted.status?.promotion?.replicationId ?? "";
    assert.match(token, /^[0-9a-f]{40}$/);
    await everyPodHolds(view, pods, CLUSTER_PASSWORD, written);
    assert.equal(await fullSyncsServed(view, pods, CLUSTER_PASSWORD), fullBefore);
  });

  it("smoke test: a write through redis-west-leader is read back from a replica", async () => {
    const leader = region.sb.resolve("redis-west-leader.default.svc.cluster.local");
    assert.ok(leader !== undefined);
    assert.deepEqual(await writeKeys(leader, 6379, CLUSTER_PASSWORD, "smoke", 1), ["smoke:0"]);
    await waitFor(
      async () =>
        (await region.view(NS).onPod("redis-west-2", CLUSTER_PASSWORD, (c) => c.get("smoke:0"))) === "1",
      {
        what: "smoke key on redis-west-2",
      },
    );
  });

  it("demote: the reference's plain promote: false is refused with the command, which then works; the pods replicate from the source again", async () => {
    const view = region.view(NS);
    const naive = [
      "patch",
      "rediscluster",
      "redis-west",
      "--type=merge",
      "-p",
      '{"spec":{"replicaMode":{"promote":false}}}',
    ];
    const denied = await region.kubectl.refused(naive);
    const command = `kubectl patch rediscluster redis-west -n default --type=merge -p '{"spec":{"replicaMode":{"promote":false,"demotionToken":"${token}"}}}'`;
    assert.ok(denied.includes(command), denied);
    assert.equal((await view.cluster("redis-west")).spec.replicaMode?.promote, true);
    await region.kubectl.ok([
      "patch",
      "rediscluster",
      "redis-west",
      "-n",
      "default",
      "--type=merge",
      "-p",
      `{"spec":{"replicaMode":{"promote":false,"demotionToken":"${token}"}}}`,
    ]);
    const demoted = await untilCluster(
      view,
      "redis-west",
      "demotion completed",
      (c) => c.status?.lastDemotion?.completedAt !== undefined && replicating(c),
    );
    assert.equal(demoted.status?.lastDemotion?.replicationId, token);
    assert.equal(demoted.status?.promotion, undefined);
    for (const pod of pods) {
      await waitFor(
        async () => {
          const info = await view.info(pod, CLUSTER_PASSWORD, "replication");
          return info["master_host"] === wan.host && info["master_link_status"] === "up";
        },
        { what: `${pod} replicating from the source`, timeoutMs: 30_000 },
      );
      assert.equal(await view.onPod(pod, CLUSTER_PASSWORD, (c) => c.exists("smoke:0")), 0);
    }
    await everyPodHolds(view, pods, CLUSTER_PASSWORD, written);
    const reasons = new Set((await view.events("redis-west")).map((e) => e.reason));
    for (const reason of [
      "PromotionRequested",
      "LeaderPromoted",
      "PromotionCompleted",
      "Demoted",
      "DemotionCompleted",
    ]) {
      assert.ok(reasons.has(reason), `Event ${reason}`);
    }
  });
});
