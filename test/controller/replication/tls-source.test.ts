import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { ioredisAdminFactory } from "../../../controller/redis/ioredis-admin.ts";
import { reloadCertificates } from "../../../controller/replication/certificates.ts";
import { AdminPool } from "../../../controller/replication/context.ts";
import { DrHarness, infoField, keysOf } from "../helpers/dr-harness.ts";
import { waitFor } from "../helpers/redis-process.ts";
import { createTestCertificates } from "../helpers/tls.ts";

// This file's loopback range: 127.24.2.0/24 and 127.24.3.0/24.

describe("a DR cluster replicating from a TLS source", () => {
  const certificates = createTestCertificates();
  const h = new DrHarness("127.24.2", 2, { tls: certificates });
  before(() => h.start());
  after(async () => {
    await h.stop();
    rmSync(certificates.dir, { recursive: true, force: true });
  });

  it("keeps replicating across a certificate rotation, reconnecting with the new certificates", async () => {
    h.spec = { ...h.replicaSpec(false), tlsSecret: { name: "dr-tls" } };
    const writer = h.source.client();
    for (let i = 0; i < 20; i++) await writer.set(`before-${i}`, "v");
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));

    // The Secret rotates: new certificates (same CA) on the source and on the pods, without a restart.
    certificates.reissue();
    await writer.config("SET", "tls-cert-file", certificates.certFile);
    await writer.config("SET", "tls-key-file", certificates.keyFile);
    const pool = new AdminPool(ioredisAdminFactory());
    try {
      assert.deepEqual(await reloadCertificates(h.context(pool)), ["dr-0", "dr-1"]);
    } finally {
      await pool.closeAll();
    }
    // Every replication link is cut: the pods reconnect over TLS with the rotated certificates.
    await writer.call("CLIENT", "KILL", "TYPE", "replica");
    for (let i = 0; i < 20; i++) await writer.set(`after-${i}`, "v");
    writer.disconnect();
    await h.reconcileUntil("linked again", async () =>
      (await h.report()).figures.every((f) => f.linkUp === 1),
    );
    await waitFor("every key on every pod", async () => {
      for (const pod of h.pods) if ((await keysOf(pod)).size !== 40) return false;
      return true;
    });
    assert.equal(await infoField(h.source, "stats", "sync_full"), String(h.pods.length));
    assert.equal(h.condition("ReplicationHealthy")?.status, "True");
  });
});

describe("a DR cluster whose tlsSecret trusts another CA than the source's", () => {
  const ours = createTestCertificates();
  const theirs = createTestCertificates();
  const h = new DrHarness("127.24.3", 1, { tls: ours, sourceTls: theirs });
  before(() => h.start());
  after(async () => {
    await h.stop();
    rmSync(ours.dir, { recursive: true, force: true });
    rmSync(theirs.dir, { recursive: true, force: true });
  });

  it("keeps the link down and says the source's certificate could not be verified", async () => {
    h.spec = { ...h.replicaSpec(false), tlsSecret: { name: "dr-tls" } };
    await h.reconcileUntil("reported", () => h.condition("ReplicationHealthy") !== undefined);
    await h.reconcile();
    assert.equal(await infoField(h.pods[0]!, "replication", "master_host"), h.source.host);
    assert.equal(await infoField(h.pods[0]!, "replication", "master_link_status"), "down");
    const healthy = h.condition("ReplicationHealthy");
    assert.equal(healthy?.status, "False");
    const why =
      "TLS with source prod-east (127.24.3.1:6379) failed: INFO replication on 127.24.3.1:6379: self-signed " +
      "certificate in certificate chain. Its certificate must be valid and signed by a CA in ca.crt of " +
      "spec.tlsSecret";
    assert.match(healthy?.message ?? "", /^The leader's link to the source is down for \d+s: /);
    assert.ok(healthy?.message?.endsWith(why), healthy?.message);
  });
});
