/**
 * Never follow a source into emptiness (issue 15, item 7): a source that comes back on a new history is not
 * followed until a human confirms it, the DR pods keep their data meanwhile; a source failover that keeps the
 * history is followed without a stop. Real redis-server processes, the engine driven pass by pass (the
 * controller's standing connection to the source, which brings the pass at once, is what the e2e test
 * proves). Loopback range 127.42.0.0/16, one /24 per scenario.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  DrHarness,
  SOURCE_PASSWORD,
  infoField,
  keysOf,
  missingKeys,
  writeNumbered,
} from "../../support/dr-harness.ts";
import { RedisProcess, waitFor } from "../../support/redis-process.ts";
import type { RedisAdminFactory } from "../../../controller/redis/admin-port.ts";
import { ioredisAdminFactory } from "../../../controller/redis/ioredis-admin.ts";

async function linked(h: DrHarness, keys: readonly string[]): Promise<void> {
  h.spec = h.replicaSpec(false, "direct");
  await h.reconcileUntil(
    "every pod linked with every key",
    async () =>
      (await missingKeys(h, new Set(keys))).length === 0 && h.status.replication?.linkStatus === "Up",
  );
}

const condition = (h: DrHarness, type: string) => h.status.conditions?.find((c) => c.type === type);

describe("a source restarted empty", () => {
  const h = new DrHarness("127.42.1");
  before(() => h.start());
  after(() => h.stop());

  it("is not followed: the pods keep every key, status says why and how to confirm; confirmed, it is", async () => {
    const keys = await writeNumbered(h.source, "k", 80);
    await linked(h, keys);
    const followed = h.status.replication?.sourceReplicationId;
    assert.equal(typeof followed, "string");

    await h.source.kill(true);
    await h.reconcile(); // the pass the source's connection ending brings at once
    h.source.wipeData();
    await h.source.start(); // no persistence: back empty, on a new history
    const sourceId = await infoField(h.source, "replication", "master_replid");
    for (let i = 0; i < 3; i++) await h.reconcile();
    await new Promise((resolve) => setTimeout(resolve, 2500)); // Redis' own reconnects would have run

    assert.deepEqual(await missingKeys(h, new Set(keys)), [], "keys lost");
    const message =
      `prod-east is on a new replication history (ID ${sourceId}, offset 0, 0 keys), not the one this ` +
      `cluster followed (ID ${followed}; dr-0 holds 80 keys): it was restarted without its replication ` +
      "state or replaced, and following it would replace this cluster's data with what it holds. The pods " +
      "are held with their data until prod-east is confirmed right: kubectl annotate rediscluster dr " +
      `redis.io/accept-source-history=${sourceId} --overwrite`;
    const stopped = condition(h, "SourceDiscontinuity");
    assert.deepEqual(
      [stopped?.status, stopped?.reason, stopped?.message],
      ["True", "HistoryRestarted", message],
    );
    assert.deepEqual(
      h.events.filter((e) => e.reason === "SourceDiscontinuity"),
      [{ type: "Warning", reason: "SourceDiscontinuity", message }],
    );
    assert.equal(h.status.replication?.linkStatus, "Down");
    assert.deepEqual(
      (await h.report()).figures.map((f) => f.linkUp),
      [0, 0, 0],
    );

    h.acceptSourceHistory = sourceId;
    const fresh = await writeNumbered(h.source, "new", 5);
    await h.reconcileUntil(
      "following the confirmed source",
      async () =>
        h.status.replication?.linkStatus === "Up" && (await missingKeys(h, new Set(fresh))).length === 0,
    );
    assert.equal(condition(h, "SourceDiscontinuity")?.status, "False");
    assert.equal(h.events.filter((e) => e.reason === "SourceHistoryAccepted").length, 1);
    assert.equal((await keysOf(h.pods[0]!)).size, 5, "the confirmed source's data, and only it");
  });
});

describe("a source failover that keeps the history", () => {
  const h = new DrHarness("127.42.2");
  const standby = new RedisProcess({ host: "127.42.2.2", password: SOURCE_PASSWORD });
  before(async () => {
    await h.start();
    await standby.start();
  });
  after(async () => {
    await standby.stop();
    await h.stop();
  });

  it("is followed without a stop and with partial resyncs", async () => {
    const client = standby.client();
    await client.config("SET", "masterauth", SOURCE_PASSWORD);
    await client.call("REPLICAOF", h.source.host, String(h.source.port));
    client.disconnect();
    const keys = await writeNumbered(h.source, "k", 50);
    await linked(h, keys);
    await waitFor("the standby in sync", async () => (await keysOf(standby)).size === 50);

    // The source's primary is lost and its replica promoted (what its Sentinels do), behind a new address.
    await h.source.kill(true);
    await h.reconcile();
    const promoted = standby.client();
    await promoted.call("REPLICAOF", "NO", "ONE");
    const later = await writeNumbered(standby, "later", 10);
    promoted.disconnect();
    h.sourceAddress = { host: standby.host, port: standby.port };
    h.spec = h.replicaSpec(false, "direct");
    await h.reconcileUntil(
      "following the promoted replica",
      async () =>
        h.status.replication?.linkStatus === "Up" &&
        (await missingKeys(h, new Set([...keys, ...later]))).length === 0,
    );
    assert.equal(condition(h, "SourceDiscontinuity"), undefined);
    assert.equal(h.events.filter((e) => e.reason === "SourceDiscontinuity").length, 0);
    assert.equal(
      Number(await infoField(standby, "stats", "sync_full")),
      0,
      "a full resync from the new primary",
    );
  });
});

describe("a source the controller cannot reach while the pods' links still say up", () => {
  const h = new DrHarness("127.42.3");
  before(() => h.start());
  after(() => h.stop());

  it("holds nobody and looks again within 200 ms, not at the next resync", async () => {
    const keys = await writeNumbered(h.source, "k", 20);
    await linked(h, keys);
    // The controller's connections to the source are refused (port 1), the pods' links are untouched: what a
    // pass sees when the source has just gone and the pods have not read its close yet.
    const inner = ioredisAdminFactory({ connectTimeoutMs: 500 });
    const sourceRefused: RedisAdminFactory = {
      connect: (endpoint) =>
        inner.connect(endpoint.host === h.source.host ? { ...endpoint, port: 1 } : endpoint),
    };
    const result = await h.reconcile(sourceRefused);
    assert.equal(result.requeueAfterMs, 200);
    for (const pod of h.pods) {
      assert.equal(await infoField(pod, "replication", "master_host"), h.source.host);
      assert.equal(await infoField(pod, "replication", "master_link_status"), "up");
    }
    assert.deepEqual(await missingKeys(h, new Set(keys)), [], "keys lost");
  });
});
