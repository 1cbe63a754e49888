import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { ioredisAdminFactory } from "../../../controller/redis/ioredis-admin.ts";
import { reloadCertificates } from "../../../controller/replication/certificates.ts";
import { AdminPool } from "../../../controller/replication/context.ts";
import { DrHarness, infoField, keysOf } from "../../support/dr-harness.ts";
import { waitFor } from "../../support/redis-process.ts";
import { createTestCertificates } from "../../support/tls.ts";

// This file's loopback ranges: 127.24.2.0/24, 127.24.3.0/24 and 127.23.7.0/24.

describe("a DR cluster replicating from a TLS source", () => {
  const certificates = createTestCertificates(["IP:127.24.2.1"]);
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
  const theirs = createTestCertificates(["IP:127.24.3.1"]);
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
      "TLS with source prod-east (127.24.3.1:6379) failed: INFO on 127.24.3.1:6379: self-signed " +
      "certificate in certificate chain. Its certificate must be valid and signed by a CA in ca.crt of " +
      "spec.tlsSecret";
    assert.match(healthy?.message ?? "", /^The leader's link to the source is down for \d+s: /);
    assert.ok(healthy?.message?.endsWith(why), healthy?.message);
  });
});

describe("a DR cluster whose source's certificate, from the trusted CA, stops naming the source's host", () => {
  const certificates = createTestCertificates(["IP:127.23.7.1"]);
  const h = new DrHarness("127.23.7", 2, { tls: certificates });
  before(() => h.start());
  after(async () => {
    await h.stop();
    rmSync(certificates.dir, { recursive: true, force: true });
  });

  it("holds the pods off it (Redis alone would accept the chain), keeps their data, and says why", async () => {
    h.spec = { ...h.replicaSpec(false), tlsSecret: { name: "dr-tls" } };
    const writer = h.source.client();
    for (let i = 0; i < 10; i++) await writer.set(`k-${i}`, "v");
    await h.reconcileUntil("linked", async () => (await h.report()).figures.every((f) => f.linkUp === 1));
    await waitFor("every key on every pod", async () => {
      for (const pod of h.pods) if ((await keysOf(pod)).size !== 10) return false;
      return true;
    });

    // The source now serves a certificate from the same CA issued for other names only.
    certificates.reissue([]);
    await writer.config("SET", "tls-cert-file", certificates.certFile);
    await writer.config("SET", "tls-key-file", certificates.keyFile);
    writer.disconnect();
    await h.reconcileUntil("reported", () => h.condition("ReplicationHealthy")?.status === "False");
    await h.reconcile();
    const why =
      "the TLS certificate of source prod-east (127.23.7.1:6379) does not name 127.23.7.1 (INFO on " +
      "127.23.7.1:6379: Hostname/IP does not match certificate's altnames: IP: 127.23.7.1 is not in the cert's " +
      "list: 127.0.0.1): the pods are held off it. Issue the source's certificate with 127.23.7.1 among its " +
      "subjectAltNames, or set spec.replicaMode.source.host to a name it lists";
    for (const pod of h.pods) {
      assert.equal(await infoField(pod, "replication", "master_host"), "127.0.0.1"); // parked
      assert.equal((await keysOf(pod)).size, 10);
    }
    const healthy = h.condition("ReplicationHealthy");
    assert.equal(healthy?.reason, "LinkDown");
    assert.ok(healthy?.message?.endsWith(why), healthy?.message);
    assert.deepEqual(
      h.events.filter((e) => e.reason === "SourceCertificateMismatch").map((e) => `${e.type}: ${e.message}`),
      [`Warning: ${why}`],
    );
  });
});
