/**
 * The source restarted without persistence comes back empty. Redis replicas re-synchronise from it by
 * themselves (faster than any reconcile), so the DR pods copy the empty dataset; the controller cannot stop
 * Redis from doing that, but it must say so loudly: a Warning Event naming the reset history. Loopback range
 * 127.38.0.0/16.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RedisProcess } from "../../controller/helpers/redis-process.ts";
import {
  applyReplicating,
  podNames,
  replicaSpec,
  startRegion,
  untilCluster,
  waitFor,
  writeKeys,
  type Region,
} from "../scenarios/region-fixture.ts";
import { recordScenario, trackScenarios } from "./ledger.ts";

trackScenarios();

const NS = "default";
const SOURCE_PASSWORD = "east-pw-38";
const CLUSTER_PASSWORD = "west-pw-38";
const pods = podNames("dr", 2);
// No persistence (the helper's default): a restart loses every key and starts a new replication history.
const source = new RedisProcess({ host: "127.38.60.1", password: SOURCE_PASSWORD });

let region: Region;

before(async () => {
  await source.start();
  region = await startRegion(38, { webhook: false });
  await region.kubectl.applyPasswordSecret(NS, "east-auth", SOURCE_PASSWORD);
  await region.kubectl.applyPasswordSecret(NS, "dr-auth", CLUSTER_PASSWORD);
  const seeded = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "seed", 500);
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
  it("a source restarted without its data is reported by a Warning Event naming the reset history", async (t) => {
    const view = region.view(NS);
    const before = await untilCluster(
      view,
      "dr",
      "the source's offset recorded",
      (c) =>
        (c.status?.replication?.sourceOffset ?? 0) > 0 &&
        c.status?.replication?.sourceReplicationId !== undefined,
    );
    const offsetBefore = before.status?.replication?.sourceOffset ?? 0;
    await source.kill(true);
    await source.start();
    const warning = await waitFor(
      async () => (await view.events("dr")).find((e) => e.reason === "SourceHistoryReset"),
      { timeoutMs: 60_000, what: "a SourceHistoryReset Event" },
    );
    assert.equal(warning.type, "Warning");
    assert.match(
      warning.message,
      new RegExp(`^east restarted its replication history \\(its offset went from ${offsetBefore} to \\d+`),
    );
    assert.match(warning.message, /if it came back empty, so are they/);
    // Not a failover: no Normal SourceResynchronised for the same change.
    assert.equal(
      (await view.events("dr")).some((e) => e.reason === "SourceResynchronised"),
      false,
    );
    recordScenario(t, {
      acknowledgedKeys: 0,
      lostKeys: 0,
      note: "asserts the warning only: the source itself dropped its keys, and today the DR side follows it (issue 15 item 7)",
    });
  });
});
