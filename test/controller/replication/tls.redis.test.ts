import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { ioredisAdminFactory } from "../../../controller/redis/ioredis-admin.ts";
import { reloadCertificates } from "../../../controller/replication/certificates.ts";
import { AdminPool } from "../../../controller/replication/context.ts";
import { CLUSTER_PASSWORD, DrHarness, infoField, keysOf } from "../../support/dr-harness.ts";
import { waitFor } from "../../support/redis-process.ts";
import { createTestCertificates } from "../../support/tls.ts";

// This file's loopback range: 127.23.5.0/24 (127.23.x is shared by /24: test/support/loopback.ts).

describe("a cluster with tlsSecret", () => {
  const certificates = createTestCertificates(["IP:127.23.5.1"]);
  const h = new DrHarness("127.23.5", 3, { tls: certificates });
  before(() => h.start());
  after(async () => {
    await h.stop();
    rmSync(certificates.dir, { recursive: true, force: true });
  });

  it("replicates from the source over TLS and promotes without a full resync", async () => {
    h.spec = { ...h.replicaSpec(false, "direct"), tlsSecret: { name: "dr-tls" } };
    const writer = h.source.client();
    for (let i = 0; i < 40; i++) await writer.set(`tls-${i}`, String(i));
    writer.disconnect();
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
    await waitFor("keys on every pod", async () => {
      for (const pod of h.pods) if ((await keysOf(pod)).size !== 40) return false;
      return true;
    });
    assert.equal(h.status.replication?.lagBytes, 0);
    assert.equal(h.condition("ReplicaMode")?.reason, "Enabled");

    await h.source.kill(true);
    h.spec = { ...h.replicaSpec(true, "direct"), tlsSecret: { name: "dr-tls" } };
    await h.reconcileUntil("promoted", () => h.status.promotion?.phase === "Completed");
    const leader = h.pods[0]!;
    assert.equal(await infoField(leader, "replication", "connected_slaves"), "2");
    assert.equal(await infoField(leader, "stats", "sync_full"), "0");
    for (const pod of h.pods) assert.equal((await keysOf(pod)).size, 40);
  });

  it("makes every pod serve a rotated certificate, and does nothing once they do", async () => {
    const before = certificates.fingerprint();
    certificates.reissue();
    const after = certificates.fingerprint();
    assert.notEqual(after, before);
    const served = async () => {
      const pool = new AdminPool(ioredisAdminFactory());
      try {
        return await Promise.all(
          h
            .podEndpoints()
            .map((p) =>
              pool
                .get({ ...p, password: CLUSTER_PASSWORD, tls: { ca: certificates.ca } })
                .serverCertificateFingerprint(),
            ),
        );
      } finally {
        await pool.closeAll();
      }
    };
    assert.deepEqual(await served(), [before, before, before]);
    const pool = new AdminPool(ioredisAdminFactory());
    try {
      assert.deepEqual(await reloadCertificates(h.context(pool)), ["dr-0", "dr-1", "dr-2"]);
      assert.deepEqual(await reloadCertificates(h.context(pool)), []);
    } finally {
      await pool.closeAll();
    }
    assert.deepEqual(await served(), [after, after, after]);
  });
});
