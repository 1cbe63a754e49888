/**
 * The reference's cross-region example on the sandbox, from manifests/examples/cross-region/: redis-east
 * (us-east-1, 5 instances) exposed by a LoadBalancer, redis-west (us-west-2, 5 instances, the same password)
 * replicating from that address; verify replication, fail over to DR while us-east-1 is down (its pods hung),
 * and recover the primary region as a replica of redis-west.
 * redis-east runs in sentinel mode, as the reference's manifest says. Loopback range 127.32.0.0/16.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { condition } from "../../../hack/lib/observe.ts";
import { exampleManifest, withSource } from "../../../hack/lib/regions.ts";
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

const NS = "default";
const PASSWORD = "same-pw-both-regions-32";
const eastPods = podNames("redis-east", 5);
const westPods = podNames("redis-west", 5);

let region: Region;
let eastLb = "";
let written: string[] = [];
let eastPaused = false;

before(async () => {
  region = await startRegion(32);
});
after(async () => {
  if (eastPaused) for (const pod of eastPods) region.sb.resumePod(pod, NS);
  await region?.stop();
});

const lbIp = async (service: string): Promise<string> => {
  const args = ["get", "svc", service, "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"];
  return waitFor(async () => (await region.kubectl.ok(args)).stdout.trim() || undefined, {
    what: `${service}'s external IP`,
  });
};

describe("the reference's cross-region example (5 + 5 instances, the same password)", () => {
  it("redis-west replicates every key from redis-east through redis-east-external's LoadBalancer IP (redis-east in sentinel mode)", async () => {
    const { kubectl } = region;
    await kubectl.applyPasswordSecret(NS, "redis-password", PASSWORD);
    await kubectl.apply([
      exampleManifest("cross-region/redis-east.yaml"),
      exampleManifest("cross-region/redis-east-external.yaml"),
    ]);
    const view = region.view(NS);
    await untilCluster(
      view,
      "redis-east",
      "redis-east Ready",
      (c) => condition(c, "Ready")?.status === "True",
      90_000,
    );
    eastLb = await lbIp("redis-east-external");
    // minSyncReplicas: 1 — the primary takes writes once a replica is attached (NOREPLICAS before).
    written = await waitFor(
      async () => {
        const keys = await writeKeys(eastLb, 6379, PASSWORD, "east", 2000);
        return keys.length === 2000 ? keys : undefined;
      },
      { what: "redis-east accepting writes", timeoutMs: 30_000, intervalMs: 250 },
    );
    assert.equal(written.length, 2000);
    await kubectl.apply([withSource(exampleManifest("cross-region/redis-west.yaml"), eastLb, 6379)]);
    const west = await untilCluster(view, "redis-west", "redis-west replicating", replicating, 90_000);
    assert.equal(
      condition(west, "ReplicaMode")?.message,
      `Cluster is replicating from redis-east (${eastLb}:6379)`,
    );
    await everyPodHolds(view, westPods, PASSWORD, written);
  });

  it("verify replication: INFO replication on redis-west-0 says what the reference shows", async () => {
    const info = await redisCliInfo(region.sb, "redis-west-0", NS, "replication");
    assert.deepEqual(
      {
        role: info["role"],
        master_host: info["master_host"],
        master_port: info["master_port"],
        master_link_status: info["master_link_status"],
        master_sync_in_progress: info["master_sync_in_progress"],
      },
      {
        role: "slave",
        master_host: eastLb,
        master_port: "6379",
        master_link_status: "up",
        master_sync_in_progress: "0",
      },
    );
  });

  it("failover to DR while us-east-1 is down: redis-west-0 becomes master with 4 replicas, every key kept, redis-west-leader writable", async () => {
    const view = region.view(NS);
    const fullBefore = await fullSyncsServed(view, westPods, PASSWORD);
    eastPaused = true;
    for (const pod of eastPods) region.sb.pausePod(pod, NS);
    // The reference applies redis-west.yaml with promote: true (the full manifest, see the example's comment).
    const manifest = withSource(exampleManifest("cross-region/redis-west.yaml"), eastLb, 6379);
    const replicaMode = manifest.spec["replicaMode"] as Record<string, unknown>;
    await region.kubectl.apply([
      { ...manifest, spec: { ...manifest.spec, replicaMode: { ...replicaMode, promote: true } } },
    ]);
    const promoted = await untilCluster(
      view,
      "redis-west",
      "promotion completed",
      promotionCompleted,
      90_000,
    );
    assert.equal(
      condition(promoted, "ReplicaMode")?.message,
      "Cluster promoted to standalone (former source: redis-east)",
    );
    const info = await redisCliInfo(region.sb, "redis-west-0", NS, "replication");
    assert.equal(info["role"], "master");
    assert.equal(info["connected_slaves"], "4");
    await everyPodHolds(view, westPods, PASSWORD, written);
    assert.equal(await fullSyncsServed(view, westPods, PASSWORD), fullBefore);
    // "Update application config to point to DR cluster": redis-west-leader.default.svc.cluster.local.
    const westLeader = region.sb.resolve("redis-west-leader.default.svc.cluster.local");
    assert.ok(westLeader !== undefined);
    const afterFailover = await writeKeys(westLeader, 6379, PASSWORD, "west", 500);
    assert.equal(afterFailover.length, 500);
    written = [...written, ...afterFailover];
  });

  it("recover primary region: redis-east, back, replicates from redis-west through redis-west-external and gets every key", async () => {
    const view = region.view(NS);
    for (const pod of eastPods) region.sb.resumePod(pod, NS);
    eastPaused = false;
    await region.kubectl.apply([exampleManifest("cross-region/redis-west-external.yaml")]);
    const westLb = await lbIp("redis-west-external");
    const recover = withSource(exampleManifest("cross-region/redis-east-failback.yaml"), westLb, 6379);
    const run = await region.kubectl.apply([recover]);
    assert.match(
      run.stderr,
      new RegExp(
        `Warning: spec\\.replicaMode\\.enabled: data will be replaced by a full copy of redis-west \\(${westLb.replaceAll(".", "\\.")}:6379\\)`,
      ),
    );
    const east = await untilCluster(
      view,
      "redis-east",
      "redis-east replicating from redis-west",
      replicating,
      90_000,
    );
    assert.equal(
      condition(east, "ReplicaMode")?.message,
      `Cluster is replicating from redis-west (${westLb}:6379)`,
    );
    await everyPodHolds(view, eastPods, PASSWORD, written, 60_000);
    const info = await redisCliInfo(region.sb, "redis-east-0", NS, "replication");
    assert.equal(info["role"], "slave");
    assert.equal(info["master_host"], westLb);
    assert.equal(info["master_link_status"], "up");
  });
});
