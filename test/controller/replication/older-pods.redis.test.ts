/**
 * Pods started by an older controller (before ACL users): `default` has every right and the cluster's
 * password. The controller logs in to them that way once, creates their users, says so in its log, and
 * replicates and promotes as usual (no full resync) until the StatefulSet's update restarts them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ADMIN_USER, REPLICATION_USER } from "../../../controller/redis/users.ts";
import {
  CLUSTER_PASSWORD,
  CLUSTER_USERS,
  DrHarness,
  infoField,
  keysOf,
  keysOnAnyPod,
  missingKeys,
  startWriteLoad,
} from "../../support/dr-harness.ts";
import { waitFor } from "../../support/redis-process.ts";

// This file's loopback range: 127.45.1.0/24.

describe("pods started by an older controller", () => {
  const h = new DrHarness("127.45.1", 3, { olderPods: true });
  before(() => h.start());
  after(() => h.stop());

  it("are given their ACL users over the default user, with a log line per pod and no password in it", async () => {
    h.spec = h.replicaSpec(false, "cascade");
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
    const warnings = h.logLines
      .map((line) => JSON.parse(line) as { level: number; pod?: string; msg: string })
      .filter((line) => line.level === 40 && line.msg.startsWith("the pod was started by an older redis-dr"));
    assert.deepEqual(warnings.map((w) => w.pod).sort(), ["dr-0", "dr-1", "dr-2"]);
    for (const secret of [CLUSTER_PASSWORD, ...Object.values(CLUSTER_USERS)]) {
      assert.equal(
        h.logLines.some((line) => line.includes(secret)),
        false,
      );
    }
    for (const [ordinal, pod] of h.pods.entries()) {
      const admin = pod.client({ username: ADMIN_USER, password: CLUSTER_USERS.admin });
      try {
        const expected = ordinal === 0 ? "" : REPLICATION_USER;
        assert.deepEqual(await admin.config("GET", "masteruser"), ["masteruser", expected]);
      } finally {
        admin.disconnect();
      }
    }
  });

  it("replicate from each other as the replication user and are promoted without a full resync", async () => {
    const load = startWriteLoad(h.source);
    await waitFor("writes reached the last pod", async () => (await keysOf(h.pods[2]!)).size > 100);
    await h.reconcile();
    await h.source.kill(true);
    assert.ok((await load.stop()) > 100);
    const acknowledged = await keysOnAnyPod(h);
    const fullSyncs = async () => {
      let total = 0;
      for (const pod of h.pods) total += Number(await infoField(pod, "stats", "sync_full"));
      return total;
    };
    const before = await fullSyncs();
    h.spec = h.replicaSpec(true, "cascade");
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    assert.equal(await infoField(h.pods[0]!, "replication", "role"), "master");
    await waitFor("every pod follows the new primary", async () => {
      for (const pod of h.pods.slice(1)) {
        if ((await infoField(pod, "replication", "master_link_status")) !== "up") return false;
      }
      return true;
    });
    assert.equal(await fullSyncs(), before);
    assert.deepEqual(await missingKeys(h, acknowledged), []);
  });
});
