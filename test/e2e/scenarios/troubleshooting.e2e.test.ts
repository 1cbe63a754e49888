/**
 * The reference's troubleshooting section on the sandbox: each symptom, and the condition, Event, metric or
 * kubectl output a user would look at. redis-west (3 pods) replicates from an external primary (a redis-server
 * standing for us-east-1) through a TCP proxy standing for the cross-region network.
 * Loopback range 127.34.0.0/16.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RegionLink } from "../../../hack/lib/link.ts";
import { condition, controllerMetrics, metricValue } from "../../../hack/lib/observe.ts";
import { RedisProcess } from "../../support/redis-process.ts";
import {
  applyReplicating,
  everyPodHolds,
  podNames,
  promotionCompleted,
  redisCliInfo,
  redisClusterManifest,
  replicaSpec,
  replicating,
  startRegion,
  untilCluster,
  waitFor,
  writeKeys,
  type Region,
} from "../../support/region-fixture.ts";

const NS = "default";
const SOURCE_PASSWORD = "east-pw-34";
const CLUSTER_PASSWORD = "west-pw-34";
const pods = podNames("redis-west", 3);
const source = new RedisProcess({ host: "127.34.60.1", password: SOURCE_PASSWORD });
const wan = new RegionLink("127.34.240.1", 6379, { host: source.host, port: 6379 });

let region: Region;
let written: string[] = [];
let leaderPaused = false;

before(async () => {
  await source.start();
  await wan.start();
  region = await startRegion(34);
  await region.kubectl.applyPasswordSecret(NS, "redis-east-auth", SOURCE_PASSWORD);
  await region.kubectl.applyPasswordSecret(NS, "redis-west-auth", CLUSTER_PASSWORD);
  written = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "seed", 500);
  await applyReplicating(
    region,
    NS,
    "redis-west",
    replicaSpec(3, "redis-west-auth", {
      host: wan.host,
      clusterName: "redis-east",
      authSecretName: "redis-east-auth",
    }),
  );
});
after(async () => {
  if (leaderPaused) region.sb.resumePod("redis-west-0", NS);
  await region?.stop();
  await wan.stop();
  await source.stop();
});

const metric = async (name: string, pod: string) =>
  metricValue(await controllerMetrics(region.sb), name, { namespace: NS, cluster: "redis-west", pod });

/** A column of `kubectl get rediscluster` as printed (columns are located by their header). */
async function printedColumn(name: string, header: string): Promise<string> {
  const [head = "", row = ""] = (await region.kubectl.ok(["get", "rediscluster", name])).stdout.split("\n");
  const start = head.indexOf(header);
  const next = head.slice(start + header.length).search(/\S/);
  const end = next < 0 ? undefined : start + header.length + next;
  return row.slice(start, end).trim();
}

describe("the reference's troubleshooting symptoms", () => {
  it("replication link down (network unreachable): INFO says down, ReplicationHealthy False/LinkDown names the unreachable source, a LinkDown Event, redis_master_link_up 0", async () => {
    const view = region.view(NS);
    wan.cut();
    await waitFor(
      async () =>
        (await redisCliInfo(region.sb, "redis-west-0", NS, "replication"))["master_link_status"] === "down",
      {
        what: "master_link_status:down",
      },
    );
    const down = await untilCluster(
      view,
      "redis-west",
      "LinkDown",
      (c) => condition(c, "ReplicationHealthy")?.reason === "LinkDown",
    );
    assert.equal(condition(down, "ReplicationHealthy")?.status, "False");
    assert.match(
      condition(down, "ReplicationHealthy")?.message ?? "",
      /^The leader's link to the source is down for \d+s: source redis-east \(127\.34\.240\.1:6379\) /,
    );
    assert.equal(down.status?.replication?.linkStatus, "Down");
    await waitFor(
      async () =>
        (await view.events("redis-west")).some((e) => e.type === "Warning" && e.reason === "LinkDown"),
      {
        what: "a LinkDown Event",
      },
    );
    await waitFor(async () => (await metric("redis_master_link_up", "redis-west-0")) === 0, {
      what: "redis_master_link_up 0",
    });
    // Fix: the network is back.
    wan.heal();
    await untilCluster(
      view,
      "redis-west",
      "link up again",
      (c) => condition(c, "ReplicationHealthy")?.reason === "LinkUp",
    );
    await waitFor(async () => (await view.events("redis-west")).some((e) => e.reason === "LinkUp"), {
      what: "a LinkUp Event",
    });
  });

  it("high replication lag (slow network): the LAG column of kubectl get, status.replication.lagBytes and redis_replication_lag_bytes show it", async () => {
    const view = region.view(NS);
    wan.throttle(100_000);
    written = [...written, ...(await writeKeys(source.host, 6379, SOURCE_PASSWORD, "slow", 600, 1000))];
    const lagging = await untilCluster(
      view,
      "redis-west",
      "a lag over 100 kB",
      (c) => (c.status?.replication?.lagBytes ?? 0) > 100_000,
      30_000,
    );
    const lag = String(lagging.status?.replication?.lagBytes);
    await waitFor(async () => Number(await printedColumn("redis-west", "LAG")) > 100_000, {
      what: "the LAG column over 100 kB",
      timeoutMs: 10_000,
    });
    assert.ok(Number(lag) > 100_000);
    await waitFor(
      async () => ((await metric("redis_replication_lag_bytes", "redis-west-0")) ?? 0) > 100_000,
      {
        what: "redis_replication_lag_bytes over 100 kB",
      },
    );
    // The reference's debug step: slave_repl_offset on the DR side trails the primary's offset.
    const info = await redisCliInfo(region.sb, "redis-west-0", NS, "replication");
    assert.equal(info["master_link_status"], "up");
    wan.heal();
    await untilCluster(view, "redis-west", "lag 0", (c) => c.status?.replication?.lagBytes === 0, 30_000);
    await everyPodHolds(view, pods, CLUSTER_PASSWORD, written);
  });

  it("wrong password: ReplicationHealthy names the Secret the source rejected; fixing the Secret brings the link up", async () => {
    const view = region.view(NS);
    await region.kubectl.applyPasswordSecret(NS, "redis-east-auth-typo", "not-the-source-password");
    await region.kubectl.apply([
      redisClusterManifest(
        "redis-typo",
        NS,
        replicaSpec(1, "redis-west-auth", {
          host: wan.host,
          clusterName: "redis-east",
          authSecretName: "redis-east-auth-typo",
        }),
      ),
    ]);
    // While the new pod starts, the condition says LeaderUnreachable (with the source's answer appended); then
    // the leader's link is known to be down.
    const rejected = await untilCluster(
      view,
      "redis-typo",
      "the link down with the password rejected",
      (c) =>
        condition(c, "ReplicationHealthy")?.reason === "LinkDown" &&
        (condition(c, "ReplicationHealthy")?.message ?? "").includes("rejected the password"),
    );
    assert.equal(condition(rejected, "ReplicationHealthy")?.status, "False");
    assert.match(
      condition(rejected, "ReplicationHealthy")?.message ?? "",
      /source redis-east \(127\.34\.240\.1:6379\) rejected the password from Secret redis-east-auth-typo: check that it matches the source's password$/,
    );
    assert.equal(
      (await redisCliInfo(region.sb, "redis-typo-0", NS, "replication"))["master_link_status"],
      "down",
    );
    // Fix: the Secret gets the source's password.
    await region.kubectl.applyPasswordSecret(NS, "redis-east-auth-typo", SOURCE_PASSWORD);
    await untilCluster(view, "redis-typo", "the link up with the fixed Secret", replicating);
    await everyPodHolds(view, ["redis-typo-0"], CLUSTER_PASSWORD, written);
  });

  it("promotion not happening (the leader pod is not answering): status says the promotion waits for redis-west-0, which kubectl shows not Ready; it completes once the pod answers", async () => {
    const view = region.view(NS);
    leaderPaused = true;
    region.sb.pausePod("redis-west-0", NS);
    await region.kubectl.ok([
      "patch",
      "rediscluster",
      "redis-west",
      "--type=merge",
      "-p",
      '{"spec":{"replicaMode":{"promote":true}}}',
    ]);
    const waiting = await untilCluster(
      view,
      "redis-west",
      "the promotion waiting for the leader",
      (c) =>
        (c.status?.promotion?.message ?? "").startsWith("Waiting for the designated leader redis-west-0") &&
        condition(c, "ReplicaMode")?.reason === "Promoting",
    );
    assert.deepEqual(
      {
        status: condition(waiting, "ReplicaMode")?.status,
        reason: condition(waiting, "ReplicaMode")?.reason,
      },
      { status: "True", reason: "Promoting" },
    );
    assert.ok((await view.events("redis-west")).some((e) => e.reason === "PromotionRequested"));
    // The reference's fix: verify the leader pod is running.
    const leaderPods = ["get", "pods", "-l", "redis.io/cluster=redis-west,redis.io/role=primary", "-o"];
    assert.equal((await region.kubectl.ok([...leaderPods, "name"])).stdout.trim(), "pod/redis-west-0");
    await waitFor(
      async () =>
        (
          await region.kubectl.ok([
            ...leaderPods,
            'jsonpath={.items[0].status.conditions[?(@.type=="Ready")].status}',
          ])
        ).stdout === "False",
      { what: "redis-west-0 not Ready", timeoutMs: 30_000 },
    );
    region.sb.resumePod("redis-west-0", NS);
    leaderPaused = false;
    await untilCluster(view, "redis-west", "promotion completed", promotionCompleted);
    await everyPodHolds(view, pods, CLUSTER_PASSWORD, written);
  });
});
