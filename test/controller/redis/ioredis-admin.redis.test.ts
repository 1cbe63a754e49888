import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RedisAdminError } from "../../../controller/redis/admin-port.ts";
import { IoredisAdmin } from "../../../controller/redis/ioredis-admin.ts";
import { RedisProcess, stopAll, waitFor } from "../../support/redis-process.ts";

// This file's loopback range: 127.43.50.0/24.
describe("ioredis admin adapter against real redis-server", () => {
  const primary = new RedisProcess({ host: "127.43.50.1", password: "primary-secret" });
  const replica = new RedisProcess({ host: "127.43.50.2", password: "replica-secret" });
  const admins: IoredisAdmin[] = [];
  const admin = (p: RedisProcess, password = p.password) => {
    const a = new IoredisAdmin({ host: p.host, port: p.port, password }, { connectTimeoutMs: 500 });
    admins.push(a);
    return a;
  };

  before(async () => {
    await Promise.all([primary.start(), replica.start()]);
  });
  after(async () => {
    await Promise.all(admins.map((a) => a.close()));
    await stopAll([primary, replica]);
  });

  it("makes an instance replicate from an authenticated primary and reports it", async () => {
    const writer = primary.client();
    await writer.set("greeting", "hello");
    writer.disconnect();
    const r = admin(replica);
    await r.configSet("masterauth", "primary-secret");
    await r.replicaOf(primary.host, primary.port);
    await waitFor("link up", async () => (await r.replication()).master?.linkStatus === "up");
    const snap = await r.snapshot();
    assert.equal(snap.replication.role, "slave");
    assert.equal(snap.replication.master?.host, "127.43.50.1");
    assert.equal(snap.keyCount, 1);
    const p = await admin(primary).snapshot();
    assert.equal(p.replication.connectedSlaves, 1);
    assert.equal(p.stats.syncFull, 1);
    assert.equal(await admin(primary).wait(1, 1000), 1);
  });

  it("promotes with REPLICAOF NO ONE, keeping the old history as replid2", async () => {
    const r = admin(replica);
    const before = await r.replication();
    await r.replicaOfNoOne();
    const promoted = await r.replication();
    assert.equal(promoted.role, "master");
    assert.equal(promoted.masterReplid2, before.masterReplid);
    assert.equal(promoted.secondReplOffset, before.masterReplOffset + 1);
  });

  it("reads back a configuration parameter", async () => {
    const r = admin(replica);
    await r.configSet("min-replicas-to-write", "0");
    assert.equal(await r.configGet("min-replicas-to-write"), "0");
  });

  it("reports a wrong password as an auth failure without the password", async () => {
    const wrong = admin(primary, "not-the-password");
    await assert.rejects(wrong.snapshot(), (error: unknown) => {
      assert.ok(error instanceof RedisAdminError);
      assert.equal(error.kind, "auth");
      assert.doesNotMatch(error.message, /not-the-password/);
      return true;
    });
  });

  it("reports an address nobody listens on as unreachable", async () => {
    const nobody = new IoredisAdmin({ host: "127.43.50.9", port: 6379 }, { connectTimeoutMs: 500 });
    admins.push(nobody);
    await assert.rejects(nobody.replication(), (error: unknown) => {
      assert.ok(error instanceof RedisAdminError);
      assert.equal(error.kind, "unreachable");
      return true;
    });
  });

  it("never puts a CONFIG SET value in its error", async () => {
    const r = admin(replica);
    await assert.rejects(r.configSet("no-such-parameter", "super-secret-value"), (error: unknown) => {
      assert.ok(error instanceof RedisAdminError);
      assert.equal(error.kind, "command");
      assert.doesNotMatch(JSON.stringify({ ...error, message: error.message }), /super-secret-value/);
      return true;
    });
  });

  it("never puts an ACL SETUSER rule in its error: a password with a space splits into modifiers", async () => {
    const r = admin(replica);
    // Redis answers "Error in ACL SETUSER modifier 'half-of-it': Syntax error", quoting the password's half.
    await assert.rejects(r.aclSetUser("someone", "reset on >secret half-of-it ~*"), (error: unknown) => {
      assert.ok(error instanceof RedisAdminError);
      assert.equal(error.kind, "command");
      assert.equal(
        error.message,
        "ACL SETUSER someone on 127.43.50.2:6379: refused (the reply is not shown: it may quote a password)",
      );
      return true;
    });
    await r.aclSetUser("someone", "reset on >a-password ~* +get");
    assert.equal(await r.configGet("maxmemory"), "0");
  });
});
