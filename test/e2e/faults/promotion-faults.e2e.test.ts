/**
 * Faults around a promotion on the Redis side: the leader OOM-killed (SIGKILL) while it catches up, the
 * controller's network to the pods' Redis ports cut (the pods keep running and replicating) at two steps and
 * healed, and the old primary region coming back writable after the DR side was promoted. Each asserts the
 * outcome, status, and that no acknowledged key is lost (recorded in the fault ledger).
 * Loopback range 127.51.0.0/16 (10.51/16 on the real back end).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { condition } from "../../../hack/lib/observe.ts";
import { REDIS_UID } from "../../../controller/kube/resources.ts";
import { RedisProcess } from "../../support/redis-process.ts";
import {
  applyReplicating,
  everyPodHolds,
  fullSyncsServed,
  podNames,
  promotionCompleted,
  replicaSpec,
  startRegion,
  untilCluster,
  writeKeys,
  type Region,
} from "../../support/region-fixture.ts";
import { assertNothingLost, trackScenarios } from "./ledger.ts";
import { assertPromotedWhole, demote, onStatus, patchPromote, type DrCluster } from "./promotion-helpers.ts";

trackScenarios();

const NS = "default";
const SOURCE_PASSWORD = "east-pw-51";
const CLUSTER_PASSWORD = "west-pw-51";
const pods = podNames("dr", 3);
const source = new RedisProcess({
  host: "127.51.60.1",
  password: SOURCE_PASSWORD,
  config: ["appendonly yes", "appendfsync always"],
});
/** An nftables table of this file's own: the sandbox shares the host's loopback, the real back end has its netns. */
const NFT_TABLE = "redis-dr-faults-51";

let region: Region;
let dr: DrCluster;
let replicated: string[] = [];

const nft = (args: string[]) => execFileSync("nft", args, { stdio: ["ignore", "pipe", "pipe"] });
const healPodNetwork = () => {
  try {
    nft(["delete", "table", "inet", NFT_TABLE]);
  } catch {
    // not there
  }
};

before(async () => {
  healPodNetwork();
  await source.start();
  region = await startRegion(51, { webhook: false });
  dr = { region, namespace: NS, name: "dr", pods, password: CLUSTER_PASSWORD };
  await region.kubectl.applyPasswordSecret(NS, "east-auth", SOURCE_PASSWORD);
  await region.kubectl.applyPasswordSecret(NS, "dr-auth", CLUSTER_PASSWORD);
  replicated = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "seed", 1000);
  await applyReplicating(
    region,
    NS,
    "dr",
    replicaSpec(3, "dr-auth", { host: source.host, clusterName: "east", authSecretName: "east-auth" }),
    { pods, password: CLUSTER_PASSWORD, keys: replicated },
  );
});
after(async () => {
  healPodNetwork();
  await region?.stop();
  await source.stop();
});

/**
 * Drops every packet to the pods' Redis port that a Redis process (uid 999: the pods' Redis and its probes,
 * on either back end) did not send: the controller's connections are cut, the pods keep replicating. Told
 * apart by the sending socket's owner, not its address: pods share one network namespace here, and neither
 * Redis nor the controller binds its outgoing connections, so all of them come from 127.0.0.1.
 */
function cutControllerFromPods(): void {
  const to = pods.map((pod) => {
    const ip = region.sb.podIP(pod, NS);
    assert.ok(ip !== undefined, `${pod} has an address`);
    return ip;
  });
  nft(["add", "table", "inet", NFT_TABLE]);
  nft(["add", "chain", "inet", NFT_TABLE, "out", "{ type filter hook output priority 0 ; policy accept ; }"]);
  nft(
    `add rule inet ${NFT_TABLE} out meta skuid != ${REDIS_UID} ip daddr { ${to.join(", ")} } tcp dport 6379 drop`.split(
      " ",
    ),
  );
}

/**
 * Writes to the source and waits until every DR pod has them: the keys a promotion must keep are the ones
 * the DR side acknowledged (what the source had beyond them is the data-loss window status reports).
 */
const sourceWrites = async (prefix: string, count = 200) => {
  const keys = await writeKeys(source.host, 6379, SOURCE_PASSWORD, prefix, count);
  await everyPodHolds(region.view(NS), pods, CLUSTER_PASSWORD, keys, 60_000);
  replicated = [...replicated, ...keys];
};

describe("faults around a promotion, Redis side", () => {
  it("the leader OOM-killed (SIGKILL) while catching up before promotion: the promotion completes after its restart, nothing lost", async (t) => {
    await sourceWrites("before-oom");
    const watch = await onStatus(
      dr,
      (c) => c.status?.promotion?.phase === "CatchingUp",
      () => region.sb.killPod("dr-0", NS, "SIGKILL"),
    );
    try {
      await patchPromote(dr, true);
      assert.equal((await watch.seen).status?.promotion?.phase, "CatchingUp");
    } finally {
      watch.stop();
    }
    const promoted = await assertPromotedWhole(t, dr, replicated, { timeoutMs: 120_000 });
    assert.equal(promoted.status?.currentPrimary, "dr-0");
    await demote(dr);
  });

  for (const step of ["CatchingUp", "Promoting"] as const) {
    it(`the controller's network to the pods cut at step ${step} and healed after 15 s: the promotion completes, nothing lost, no full resync`, async (t) => {
      await sourceWrites(`before-cut-${step}`);
      const view = region.view(NS);
      const fullBefore = await fullSyncsServed(view, pods, CLUSTER_PASSWORD);
      const watch = await onStatus(dr, (c) => c.status?.promotion?.phase === step, cutControllerFromPods);
      try {
        await patchPromote(dr, true);
        assert.equal((await watch.seen).status?.promotion?.phase, step);
        // The pods keep running: their replication does not go through the cut.
        await new Promise((resolve) => setTimeout(resolve, 15_000));
        // What the controller could do before the cut took effect it did; what is left waits for the heal.
        t.diagnostic(`phase after 15 s cut: ${(await view.cluster("dr")).status?.promotion?.phase}`);
      } finally {
        watch.stop();
        healPodNetwork();
      }
      await assertPromotedWhole(t, dr, replicated, { fullSyncsBefore: fullBefore, timeoutMs: 120_000 });
      await demote(dr);
    });
  }

  it("the old primary region back writable after the DR side was promoted: the promoted cluster keeps its writes and does not follow it again; status still says Promoted", async (t) => {
    const view = region.view(NS);
    // The primary region goes down (its process killed, its data kept on disk), the DR side is promoted and
    // takes writes.
    await sourceWrites("before-outage");
    await everyPodHolds(view, pods, CLUSTER_PASSWORD, replicated);
    await source.kill(true);
    await patchPromote(dr, true);
    const promoted = await untilCluster(view, "dr", "promotion completed", promotionCompleted, 120_000);
    const token = promoted.status?.promotion?.replicationId;
    const drWrites = await writeKeys(view.podIP("dr-0"), 6379, CLUSTER_PASSWORD, "dr-after-promotion", 500);
    assert.equal(drWrites.length, 500, "the promoted cluster acknowledges writes");
    // The old primary comes back with its data and takes writes of its own.
    await source.start();
    const oldRegionWrites = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "old-region-after", 100);
    assert.equal(oldRegionWrites.length, 100, "the old primary takes writes again");
    // Give the controller a dozen reconciles (resync every 2 s) to do the wrong thing.
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const after = await view.cluster("dr");
    assert.equal(after.status?.promotion?.phase, "Completed");
    assert.equal(after.status?.promotion?.replicationId, token, "the same promoted history");
    assert.equal(condition(after, "ReplicaMode")?.reason, "Promoted");
    assert.equal(after.status?.currentPrimary, "dr-0");
    const leader = await view.info("dr-0", CLUSTER_PASSWORD, "replication");
    assert.equal(leader["role"], "master", "dr-0 still a primary");
    assert.equal(leader["master_replid"], token, "dr-0 still on the promoted history");
    for (const pod of ["dr-1", "dr-2"]) {
      const info = await view.info(pod, CLUSTER_PASSWORD, "replication");
      assert.equal(
        info["master_host"],
        region.sb.podIP("dr-0", NS),
        `${pod} follows dr-0, not the old primary`,
      );
    }
    const onDr = await view.keys("dr-0", CLUSTER_PASSWORD, "old-region-after:*");
    assert.equal(onDr.size, 0, "none of the old primary's new writes reached the promoted cluster");
    await assertNothingLost(t, {
      view,
      pods,
      password: CLUSTER_PASSWORD,
      keys: [...replicated, ...drWrites],
      note: "the source restarted with its data and took 100 writes of its own after the promotion",
    });
  });
});
