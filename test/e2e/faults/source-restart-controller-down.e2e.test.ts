/**
 * A known limit, asserted as it is: the source restarted empty while no controller runs. Redis replicas copy
 * it by themselves within a second, and nothing in the pods stops them (a pod-side guard would be needed).
 * What the controller must do when it is back is say so loudly: a Warning SourceHistoryReset naming the keys
 * the leader held and holds now. Not a fault-suite scenario (its keys are lost by design of Redis), so it is
 * not in the ledger. Loopback range 127.85.0.0/16.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RedisProcess } from "../../support/redis-process.ts";
import {
  applyReplicating,
  podNames,
  replicaSpec,
  replicating,
  startRegion,
  untilCluster,
  waitFor,
  writeKeys,
  type Region,
} from "../../support/region-fixture.ts";

const NS = "default";
const SOURCE_PASSWORD = "east-pw-85";
const CLUSTER_PASSWORD = "west-pw-85";
const pods = podNames("dr", 2);
// No persistence (the helper's default): a restart loses every key and starts a new replication history.
const source = new RedisProcess({ host: "127.85.60.1", password: SOURCE_PASSWORD });

let region: Region;
let seeded: string[] = [];

before(async () => {
  await source.start();
  region = await startRegion(85, { webhook: false });
  await region.kubectl.applyPasswordSecret(NS, "east-auth", SOURCE_PASSWORD);
  await region.kubectl.applyPasswordSecret(NS, "dr-auth", CLUSTER_PASSWORD);
  seeded = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "seed", 500);
  await applyReplicating(
    region,
    NS,
    "dr",
    replicaSpec(2, "dr-auth", { host: source.host, clusterName: "east", authSecretName: "east-auth" }),
    { pods, password: CLUSTER_PASSWORD, keys: seeded },
  );
});
after(async () => {
  await region?.stop();
  await source.stop();
});

describe("the source comes back empty while the controller is down", () => {
  it("the controller back after the DR pods copied an empty source says so in a Warning with the keys lost", async () => {
    const view = region.view(NS);
    await untilCluster(
      view,
      "dr",
      "the source's history and the leader's keys recorded",
      (c) =>
        c.status?.replication?.sourceReplicationId !== undefined &&
        replicating(c) &&
        (c.status.lastKnownOffsets?.find((k) => k.pod === "dr-0")?.keys ?? 0) === 500,
    );
    await region.sb.stopController();
    await source.kill(true);
    await source.start(); // no persistence: back empty on a new history
    await waitFor(async () => (await view.keys("dr-0", CLUSTER_PASSWORD)).size === 0, {
      what: "Redis' own resync of the empty source (the limit this test documents)",
    });
    await region.sb.startController();
    const warning = await waitFor(
      async () => (await view.events("dr")).find((e) => e.reason === "SourceHistoryReset"),
      { timeoutMs: 60_000, what: "a SourceHistoryReset Warning" },
    );
    assert.equal(warning.type, "Warning");
    assert.match(
      warning.message,
      /; dr-0 held 500 keys and now holds 0\): it was restarted without its data/,
    );
  });
});
