/**
 * The reference's basic example on the sandbox, applied with kubectl from manifests/examples/basic/:
 * prod-redis (region A) ➜ dr-redis (region B) in namespace production, each with its own auth Secret.
 * prod-redis runs in sentinel mode, as the reference's manifest says. Loopback range 127.31.0.0/16.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { condition } from "../../../hack/lib/observe.ts";
import { exampleManifest, withSpec } from "../../../hack/lib/regions.ts";
import {
  everyPodHolds,
  fullSyncsServed,
  podNames,
  promotionCompleted,
  redisCliInfo,
  replicating,
  startRegion,
  untilCluster,
  waitFor,
  writeKeys,
  type Region,
} from "../../support/region-fixture.ts";

const NS = "production";
const PROD_PASSWORD = "prod-pw-basic-31";
const DR_PASSWORD = "dr-pw-basic-31";
const SOURCE_HOST = "prod-redis-leader.production.svc.cluster.local";

let region: Region;
let written: string[] = [];

before(async () => {
  region = await startRegion(31);
});
after(() => region?.stop());

describe("the reference's basic example", () => {
  it("prod-redis ➜ dr-redis: replicates every key, with separate auth Secrets (prod-redis in sentinel mode)", async () => {
    const { kubectl } = region;
    await kubectl.applyNamespace(NS);
    await kubectl.applyPasswordSecret(NS, "prod-redis-auth", PROD_PASSWORD);
    await kubectl.applyPasswordSecret(NS, "dr-redis-auth", DR_PASSWORD);
    await kubectl.apply([exampleManifest("basic/prod-redis.yaml")]);
    const view = region.view(NS);
    await untilCluster(
      view,
      "prod-redis",
      "prod-redis Ready",
      (c) => condition(c, "Ready")?.status === "True",
    );
    const prodLeader = region.sb.resolve(`${SOURCE_HOST}`);
    assert.ok(prodLeader !== undefined, "prod-redis-leader resolves");
    // minSyncReplicas: 1 — the primary takes writes once a replica is attached (NOREPLICAS before).
    written = await waitFor(
      async () => {
        const keys = await writeKeys(prodLeader, 6379, PROD_PASSWORD, "basic", 1000);
        return keys.length === 1000 ? keys : undefined;
      },
      { what: "prod-redis accepting writes", timeoutMs: 30_000, intervalMs: 250 },
    );
    assert.equal(written.length, 1000);

    await kubectl.apply([exampleManifest("basic/dr-redis.yaml")]);
    const dr = await untilCluster(view, "dr-redis", "dr-redis replicating", replicating);
    assert.equal(
      condition(dr, "ReplicaMode")?.message,
      `Cluster is replicating from prod-redis-us-east (${SOURCE_HOST}:6379)`,
    );
    assert.equal(dr.status?.designatedLeader, "dr-redis-0");
    await everyPodHolds(view, podNames("dr-redis", 3), DR_PASSWORD, written);

    // Designated leader: ordinal 0, labelled primary although a replica, selected by dr-redis-leader.
    const labelled = await kubectl.ok([
      "-n",
      NS,
      "get",
      "pods",
      "-l",
      "redis.io/cluster=dr-redis,redis.io/role=primary",
      "-o",
      "name",
    ]);
    assert.equal(labelled.stdout.trim(), "pod/dr-redis-0");
    assert.equal(region.sb.resolve("dr-redis-leader.production.svc.cluster.local") !== undefined, true);
    const info = await redisCliInfo(region.sb, "dr-redis-0", NS, "replication");
    assert.equal(info["role"], "slave");
    assert.equal(info["master_host"], SOURCE_HOST);
    assert.equal(info["master_link_status"], "up");
  });

  it("promotes dr-redis with the manifest and promote: true applied: the leader is primary, the others follow it with dr-redis-auth", async () => {
    const view = region.view(NS);
    const drPods = podNames("dr-redis", 3);
    const fullBefore = await fullSyncsServed(view, drPods, DR_PASSWORD);
    const dr = exampleManifest("basic/dr-redis.yaml");
    const replicaMode = dr.spec["replicaMode"] as Record<string, unknown>;
    const run = await region.kubectl.apply([
      withSpec(dr, { replicaMode: { ...replicaMode, promote: true } }),
    ]);
    assert.match(run.stdout, /rediscluster\.redis\.io\/dr-redis configured/);
    const promoted = await untilCluster(view, "dr-redis", "promotion completed", promotionCompleted);
    assert.deepEqual(
      {
        status: condition(promoted, "ReplicaMode")?.status,
        message: condition(promoted, "ReplicaMode")?.message,
      },
      { status: "False", message: "Cluster promoted to standalone (former source: prod-redis-us-east)" },
    );
    await untilCluster(
      view,
      "dr-redis",
      "currentPrimary dr-redis-0",
      (c) => c.status?.currentPrimary === "dr-redis-0",
    );
    const info = await redisCliInfo(region.sb, "dr-redis-0", NS, "replication");
    assert.equal(info["role"], "master");
    assert.equal(info["connected_slaves"], "2");
    for (const pod of ["dr-redis-1", "dr-redis-2"]) {
      const replica = await redisCliInfo(region.sb, pod, NS, "replication");
      assert.equal(replica["master_host"], region.sb.podIP("dr-redis-0", NS));
      assert.equal(replica["master_link_status"], "up");
    }
    assert.equal(await view.onPod("dr-redis-0", DR_PASSWORD, (c) => c.set("after-promotion", "1")), "OK");
    await everyPodHolds(view, drPods, DR_PASSWORD, [...written, "after-promotion"]);
    assert.equal(await fullSyncsServed(view, drPods, DR_PASSWORD), fullBefore);
  });
});
