import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DrHarness, infoField } from "../../support/dr-harness.ts";
import type { RedisProcess } from "../../support/redis-process.ts";

// This file's loopback range: 127.24.1.0/24.

async function configOf(pod: RedisProcess, parameter: string): Promise<string | undefined> {
  const client = pod.client();
  try {
    const reply = (await client.config("GET", parameter)) as string[];
    return reply[1];
  } finally {
    client.disconnect();
  }
}

async function write(pod: RedisProcess, key: string): Promise<string> {
  const client = pod.client();
  try {
    return await client.set(key, "v");
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    client.disconnect();
  }
}

describe("minSyncReplicas: 1 on a DR cluster", () => {
  const h = new DrHarness("127.24.1", 3);
  before(() => h.start());
  after(() => h.stop());

  it("does not apply while the cluster replicates (no primary, no syncReplicas)", async () => {
    h.spec = { ...h.replicaSpec(false), minSyncReplicas: 1 };
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
    assert.equal(h.status.syncReplicas, undefined);
    assert.equal(await configOf(h.pods[0]!, "min-replicas-to-write"), "0");
  });

  it("applies after promotion: writes fail with NOREPLICAS without replicas, and work again when one is back", async () => {
    await h.source.kill(true);
    h.spec = { ...h.replicaSpec(true), minSyncReplicas: 1 };
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    await h.reconcileUntil("both replicas good", () => h.status.syncReplicas === 2);
    const leader = h.pods[0]!;
    assert.equal(await configOf(leader, "min-replicas-to-write"), "1");
    assert.equal(await write(leader, "with-replicas"), "OK");

    await Promise.all([h.pods[1]!.kill(true), h.pods[2]!.kill(true)]);
    await h.reconcileUntil("no good replica", () => h.status.syncReplicas === 0);
    assert.match(await write(leader, "without-replicas"), /^NOREPLICAS/);

    await h.pods[1]!.start();
    await h.reconcileUntil("one good replica", () => h.status.syncReplicas === 1);
    assert.equal(await infoField(h.pods[1]!, "replication", "master_link_status"), "up");
    assert.equal(await write(leader, "one-replica-back"), "OK");
    assert.equal(h.status.currentPrimary, "dr-0");
  });
});
