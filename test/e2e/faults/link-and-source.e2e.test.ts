/**
 * Faults between the regions: the cross-region link cut and healed (a TCP proxy standing for the network),
 * and the source primary killed and restarted with its data (AOF). Each asserts that no key replicated to
 * the DR side before the fault is lost, that status tells the truth meanwhile, and that replication recovers
 * by itself. Loopback range 127.35.0.0/16.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RegionLink } from "../../../hack/lib/link.ts";
import { condition, parseInfo } from "../../../hack/lib/observe.ts";
import { RedisProcess } from "../../support/redis-process.ts";
import {
  applyReplicating,
  everyPodHolds,
  podNames,
  replicaSpec,
  replicating,
  startRegion,
  untilCluster,
  writeKeys,
  type Region,
} from "../../support/region-fixture.ts";
import { assertNothingLost, trackScenarios } from "./ledger.ts";

trackScenarios();

const NS = "default";
const SOURCE_PASSWORD = "east-pw-35";
const CLUSTER_PASSWORD = "west-pw-35";
const pods = podNames("dr", 3);
const source = new RedisProcess({
  host: "127.35.60.1",
  password: SOURCE_PASSWORD,
  config: ["appendonly yes", "appendfsync always"],
});
const wan = new RegionLink("127.35.240.1", 6379, { host: source.host, port: 6379 });

let region: Region;
let replicated: string[] = [];

before(async () => {
  await source.start();
  await wan.start();
  // Not an admission fault: no webhook here, one process less on a 2-core CI machine.
  region = await startRegion(35, { webhook: false });
  await region.kubectl.applyPasswordSecret(NS, "east-auth", SOURCE_PASSWORD);
  await region.kubectl.applyPasswordSecret(NS, "dr-auth", CLUSTER_PASSWORD);
  replicated = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "seed", 1000);
  await applyReplicating(
    region,
    NS,
    "dr",
    replicaSpec(3, "dr-auth", { host: wan.host, clusterName: "east", authSecretName: "east-auth" }),
    { pods, password: CLUSTER_PASSWORD, keys: replicated },
  );
});
after(async () => {
  await region?.stop();
  await wan.stop();
  await source.stop();
});

async function sourceStats(): Promise<Record<string, string>> {
  const client = source.client();
  try {
    return parseInfo(await client.info("stats"));
  } finally {
    client.disconnect();
  }
}

describe("faults between the regions", () => {
  it("the cross-region link cut and healed: status says Down while cut, the DR side catches up with a partial resync, nothing lost", async (t) => {
    const view = region.view(NS);
    const fullBefore = Number((await sourceStats())["sync_full"]);
    wan.cut();
    const duringCut = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "during-cut", 500);
    const down = await untilCluster(
      view,
      "dr",
      "link Down with its duration",
      (c) => c.status?.replication?.linkStatus === "Down" && (c.status.replication.linkDownSeconds ?? 0) >= 1,
    );
    assert.equal(condition(down, "ReplicationHealthy")?.status, "False");
    assert.equal(condition(down, "ReplicationHealthy")?.reason, "LinkDown");
    // The DR side still holds every key it had before the cut.
    await everyPodHolds(view, pods, CLUSTER_PASSWORD, replicated, 5_000);
    wan.heal();
    const healed = await untilCluster(
      view,
      "dr",
      "link Up again",
      (c) => replicating(c) && c.status?.replication?.lagBytes === 0,
    );
    assert.equal(healed.status?.replication?.linkDownSeconds, undefined);
    replicated = [...replicated, ...duringCut];
    const fullAfter = Number((await sourceStats())["sync_full"]);
    await assertNothingLost(t, {
      view,
      pods,
      password: CLUSTER_PASSWORD,
      keys: replicated,
      fullResyncs: fullAfter - fullBefore,
    });
    assert.equal(fullAfter, fullBefore, "the source served a full resync");
  });

  it("the source killed and restarted with its data (AOF): status says Down meanwhile, the DR side keeps every key and follows it again", async (t) => {
    const view = region.view(NS);
    await source.kill(true);
    await untilCluster(
      view,
      "dr",
      "link Down",
      (c) => condition(c, "ReplicationHealthy")?.reason === "LinkDown",
    );
    await everyPodHolds(view, pods, CLUSTER_PASSWORD, replicated, 5_000);
    await source.start();
    const afterRestart = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "after-restart", 200);
    await untilCluster(
      view,
      "dr",
      "link Up again",
      (c) => replicating(c) && c.status?.replication?.lagBytes === 0,
    );
    replicated = [...replicated, ...afterRestart];
    await assertNothingLost(t, { view, pods, password: CLUSTER_PASSWORD, keys: replicated });
  });
});
