/**
 * The source restarted without persistence comes back empty, at once. Redis replicas would re-synchronise
 * from it by themselves within a second and copy the empty dataset; the controller's standing connection to
 * the source sees it go and holds the pods first. They keep every key; condition SourceDiscontinuity and a
 * Warning Event say why, with the command that confirms the new source; confirmed, it is followed.
 * Loopback range 127.38.0.0/16.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { condition, redisClient } from "../../../hack/lib/observe.ts";
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
import { assertNothingLost, trackScenarios } from "./ledger.ts";

trackScenarios();

const NS = "default";
const SOURCE_PASSWORD = "east-pw-38";
const CLUSTER_PASSWORD = "west-pw-38";
const pods = podNames("dr", 2);
// No persistence (the helper's default): a restart loses every key and starts a new replication history.
const source = new RedisProcess({ host: "127.38.60.1", password: SOURCE_PASSWORD });

let region: Region;
let seeded: string[] = [];

before(async () => {
  await source.start();
  region = await startRegion(38, { webhook: false });
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

describe("the source comes back empty", () => {
  it("a source restarted empty at once is not followed: the DR pods keep every key until a human confirms it", async (t) => {
    const view = region.view(NS);
    const before = await untilCluster(
      view,
      "dr",
      "the source's history recorded",
      (c) => c.status?.replication?.sourceReplicationId !== undefined && replicating(c),
    );
    const followed = before.status?.replication?.sourceReplicationId;
    await source.kill(true);
    await source.start(); // no persistence: back empty on a new history, as fast as a process restarts
    const stopped = await untilCluster(
      view,
      "dr",
      "SourceDiscontinuity True",
      (c) => condition(c, "SourceDiscontinuity")?.status === "True",
      60_000,
    );
    // Redis' own reconnects (every second) would have copied the empty source by now.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await assertNothingLost(t, {
      view,
      pods,
      password: CLUSTER_PASSWORD,
      keys: seeded,
      note: "the source restarted empty; the DR pods must not follow it into emptiness",
    });
    const client = redisClient(source.host, 6379, SOURCE_PASSWORD);
    const sourceId = /^master_replid:(\w+)/m.exec(await client.info("replication"))?.[1];
    client.disconnect();
    const confirm = `kubectl annotate rediscluster dr redis.io/accept-source-history=${sourceId} --overwrite`;
    const message = condition(stopped, "SourceDiscontinuity")?.message ?? "";
    assert.equal(condition(stopped, "SourceDiscontinuity")?.reason, "HistoryRestarted");
    assert.ok(message.startsWith(`east is on a new replication history (ID ${sourceId}, `), message);
    assert.ok(message.includes(`not the one this cluster followed (ID ${followed};`), message);
    assert.ok(message.endsWith(confirm), message);
    const warning = (await view.events("dr")).find((e) => e.reason === "SourceDiscontinuity");
    assert.equal(warning?.type, "Warning");
    assert.equal(warning?.message, message);
    assert.equal(
      (await view.events("dr")).some((e) => e.reason === "SourceHistoryReset"),
      false,
      "the pods re-synchronised from the empty source",
    );

    // Confirmed with the command status gives: the pods follow the new source (and hold what it holds).
    await region.kubectl.ok(confirm.replace(/^kubectl /, "").split(" "));
    await untilCluster(
      view,
      "dr",
      "following the confirmed source",
      (c) => condition(c, "SourceDiscontinuity")?.status === "False" && replicating(c),
      60_000,
    );
    await waitFor(async () => (await view.keys("dr-0", CLUSTER_PASSWORD)).size === 0, {
      what: "dr-0 holds what the confirmed source holds",
    });
  });
});
