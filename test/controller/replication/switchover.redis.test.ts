import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import type { RedisAdmin } from "../../../controller/redis/admin-port.ts";
import { IoredisAdmin } from "../../../controller/redis/ioredis-admin.ts";
import { prepareHandoffTarget, switchover } from "../../../controller/replication/switchover.ts";
import { startFollowingWriter, type WriterReport } from "../../../hack/bench/lib/following-writer.ts";
import { infoField } from "../../support/dr-harness.ts";
import { RedisProcess, stopAll, waitFor } from "../../support/redis-process.ts";

// This file's loopback range: 127.95.0.0/16, two /24 per scenario (east, west).

/** What the DR controller makes its pods following an external source announce (controller/README.md). */
const FOREIGN_NAME = "west-0.dr-replica.invalid";

/**
 * Two regions: east-0 primary with east-1 its replica; west-0 (the DR leader) replicating from east-0 and
 * announcing a name that never resolves, as a DR pod does; west-1 chained from west-0 (cascade).
 */
class Regions {
  readonly east0: RedisProcess;
  readonly east1: RedisProcess;
  readonly west0: RedisProcess;
  readonly west1: RedisProcess;
  private readonly admins: RedisAdmin[] = [];

  /**
   * With `password`, every instance requires it and the replicas log in with it (masterauth, in the config
   * file); east-0 gets no masterauth unless `east0MayLogIn`: it cannot log in to west-0 once it follows it.
   */
  constructor(east: string, west: string, password?: string, east0MayLogIn = true) {
    const auth = password === undefined ? {} : { password };
    const masterauth = password === undefined ? [] : [`masterauth ${password}`];
    this.east0 = new RedisProcess({ host: `${east}.1`, ...auth, config: east0MayLogIn ? masterauth : [] });
    this.east1 = new RedisProcess({ host: `${east}.2`, ...auth, config: masterauth });
    this.west0 = new RedisProcess({
      host: `${west}.1`,
      ...auth,
      config: [`replica-announce-ip ${FOREIGN_NAME}`, ...masterauth],
    });
    this.west1 = new RedisProcess({ host: `${west}.2`, ...auth, config: masterauth });
  }

  get all(): RedisProcess[] {
    return [this.east0, this.east1, this.west0, this.west1];
  }

  admin(p: RedisProcess): RedisAdmin {
    const admin = new IoredisAdmin(p.endpoint, { commandTimeoutMs: 5000 });
    this.admins.push(admin);
    return admin;
  }

  async start(): Promise<void> {
    await Promise.all(this.all.map((p) => p.start()));
    await replicaOf(this.east1, this.east0);
    await replicaOf(this.west0, this.east0);
    await replicaOf(this.west1, this.west0);
    for (const p of [this.east1, this.west0, this.west1]) await linkUp(p);
  }

  async syncFull(): Promise<number[]> {
    return Promise.all(this.all.map(async (p) => Number(await infoField(p, "stats", "sync_full"))));
  }

  async stop(): Promise<void> {
    await Promise.all(this.admins.map((a) => a.close()));
    await stopAll(this.all);
  }
}

async function replicaOf(replica: RedisProcess, primary: RedisProcess): Promise<void> {
  const client = replica.client();
  await client.replicaof(primary.host, primary.port);
  client.disconnect();
}

async function linkUp(p: RedisProcess): Promise<void> {
  await waitFor(
    `${p.host} linked`,
    async () => (await infoField(p, "replication", "master_link_status")) === "up",
  );
}

/** Every replica caught up with `primary`'s offset. */
async function converged(primary: RedisProcess, replicas: readonly RedisProcess[]): Promise<void> {
  await waitFor("replicas caught up", async () => {
    const offset = await infoField(primary, "replication", "master_repl_offset");
    for (const r of replicas) {
      if ((await infoField(r, "replication", "master_link_status")) !== "up") return false;
      if ((await infoField(r, "replication", "master_repl_offset")) !== offset) return false;
    }
    return true;
  });
}

/** The acknowledged keys `p` lacks, and its counter. */
async function missingOn(
  p: RedisProcess,
  report: WriterReport,
): Promise<{ missing: string[]; counter: number }> {
  const client = p.client();
  try {
    const missing: string[] = [];
    for (let i = 0; i < report.acknowledged.length; i += 500) {
      const batch = report.acknowledged.slice(i, i + 500);
      const values = await client.mget(...batch);
      batch.forEach((key, j) => {
        if (values[j] === null) missing.push(key);
      });
    }
    return { missing, counter: Number((await client.get(report.counterKey)) ?? 0) };
  } finally {
    client.disconnect();
  }
}

async function setOn(p: RedisProcess): Promise<string> {
  const client = p.client();
  try {
    return await client.set("probe", "1");
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    client.disconnect();
  }
}

/**
 * Forwards to `target`, but swallows the target's answer to the first `PSYNC … FAILOVER` and cuts that
 * connection: the target has promoted itself, the old primary never hears so (a `+CONTINUE` lost on the
 * wire). Later connections pass untouched.
 */
class LostHandoffProxy {
  private readonly server = net.createServer((client) => this.accept(client));
  private readonly sockets = new Set<net.Socket>();
  swallowed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, this.host, () => resolve());
    });
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.target.port, this.target.host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    let failoverAsked = false;
    client.on("data", (chunk: Buffer) => {
      if (!this.swallowed && /PSYNC[\s\S]*FAILOVER/i.test(chunk.toString("latin1"))) failoverAsked = true;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (failoverAsked && !this.swallowed && chunk.toString("latin1").includes("+CONTINUE")) {
        this.swallowed = true;
        client.destroy();
        return;
      }
      client.write(chunk);
    });
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const whileWriting = (count: () => number, more: number) => {
  const target = count() + more;
  return waitFor(`${more} more acknowledged writes`, () => count() >= target);
};

describe("planned switchover with FAILOVER TO", () => {
  describe("hands the primary role over under live writes", () => {
    const regions = new Regions("127.95.1", "127.95.2");
    before(() => regions.start());
    after(() => regions.stop());

    it("loses no acknowledged write, does no full resync, and leaves the old primary a replica", async (t) => {
      const { east0, east1, west0, west1 } = regions;
      const target = { host: west0.host, port: west0.port };
      const fullBefore = await regions.syncFull();
      const partialBefore = Number(await infoField(west0, "stats", "sync_partial_ok"));
      const writer = startFollowingWriter([east0.endpoint, west0.endpoint], "sw");
      try {
        await whileWriting(writer.acknowledgedCount, 300);

        // The DR leader has not consented: it is listed under its foreign name, and nothing is sent.
        const east0Admin = regions.admin(east0);
        const refused = await switchover({ primary: east0Admin, target, timeoutMs: 5000 });
        assert.equal(refused.kind, "refused");
        assert.match(
          refused.kind === "refused" ? refused.reason : "",
          new RegExp(
            `^${west0.host}:6379 is not listed as a replica of the old primary \\(listed: .*${FOREIGN_NAME}:6379`,
          ),
        );
        assert.equal(await infoField(east0, "replication", "role"), "master");

        // Consent: west-0 announces the address east-0 dials, and reconnects once (partial resync).
        await prepareHandoffTarget(regions.admin(west0), target);
        assert.match(
          await east0Admin.replication().then((i) => i.replicas.map((r) => `${r.ip}:${r.port}`).join(" ")),
          new RegExp(`${west0.host}:6379`),
        );
        await whileWriting(writer.acknowledgedCount, 300);

        const outcome = await switchover({
          primary: east0Admin,
          target,
          timeoutMs: 5000,
          targetAdmin: regions.admin(west0),
          ackMarginMs: 50,
        });
        assert.equal(outcome.kind, "handed-over", JSON.stringify(outcome));
        await whileWriting(writer.acknowledgedCount, 300);
        const report = await writer.stop();

        assert.equal(report.endpoint, 1, "the writer ended on west-0");
        await converged(west0, [east0, west1]);
        await converged(east0, [east1]);
        assert.equal(await infoField(west0, "replication", "role"), "master");
        assert.equal(
          outcome.kind === "handed-over" ? outcome.newPrimary.replicationId : "",
          await infoField(west0, "replication", "master_replid"),
        );
        assert.equal(await infoField(east0, "replication", "role"), "slave");
        assert.equal(await infoField(east0, "replication", "master_host"), west0.host);
        assert.equal(await infoField(east1, "replication", "master_host"), east0.host);
        for (const p of regions.all) {
          assert.deepEqual(await missingOn(p, report), { missing: [], counter: report.counter }, p.host);
        }
        assert.deepEqual(
          await regions.syncFull(),
          fullBefore,
          "full resyncs (east-0, east-1, west-0, west-1)",
        );
        assert.ok(
          Number(await infoField(west0, "stats", "sync_partial_ok")) > partialBefore,
          "east-0 re-attached to west-0 with a partial resync",
        );
        assert.match(await setOn(east0), /^READONLY/);
        assert.equal(await setOn(west0), "OK");
        t.diagnostic(
          `acknowledged ${report.acknowledged.length} writes, counter ${report.counter}; write pause seen by ` +
            `the writer ${report.maxGapMs.toFixed(1)} ms (driver's pause ${outcome.kind === "handed-over" ? outcome.pausedMs.toFixed(1) : "?"} ms); ` +
            `READONLY answers ${report.readonlyErrors}, other errors ${report.otherErrors}`,
        );
      } finally {
        await writer.stop();
      }
    });
  });

  describe("repairs a hand-off the old primary gave up on after the target took over", () => {
    const regions = new Regions("127.95.7", "127.95.8");
    const proxy = new LostHandoffProxy("127.95.8.9", 6379, { host: "127.95.8.1", port: 6379 });
    before(async () => {
      await regions.start();
      await proxy.start();
    });
    after(async () => {
      await proxy.stop();
      await regions.stop();
    });

    it("makes the old primary follow the new one before writes resume, losing nothing", async (t) => {
      const { east0, east1, west0, west1 } = regions;
      // west-0 is listed (and dialled) at the proxy's address.
      const target = { host: proxy.host, port: proxy.port };
      await prepareHandoffTarget(regions.admin(west0), target);
      const fullBefore = await regions.syncFull();
      const writer = startFollowingWriter([east0.endpoint, west0.endpoint], "lost");
      try {
        await whileWriting(writer.acknowledgedCount, 200);
        const outcome = await switchover({
          primary: regions.admin(east0),
          target,
          timeoutMs: 5000,
          targetAdmin: regions.admin(west0),
        });
        assert.equal(proxy.swallowed, true, "the +CONTINUE was swallowed");
        assert.equal(outcome.kind, "handed-over", JSON.stringify(outcome));
        assert.equal(outcome.kind === "handed-over" && outcome.repaired, true);
        await whileWriting(writer.acknowledgedCount, 200);
        const report = await writer.stop();
        assert.equal(report.endpoint, 1, "the writer ended on west-0");
        await converged(west0, [east0, west1]);
        await converged(east0, [east1]);
        assert.equal(await infoField(west0, "replication", "role"), "master");
        assert.equal(await infoField(east0, "replication", "role"), "slave");
        assert.equal(await infoField(east0, "replication", "master_host"), proxy.host);
        for (const p of regions.all) {
          assert.deepEqual(await missingOn(p, report), { missing: [], counter: report.counter }, p.host);
        }
        // The price of this rare path: the old primary gave its history up when it aborted (a new replid),
        // so it copies west-0 in full, and east-1 copies it in turn. Nothing acknowledged is lost.
        const fullAfter = await regions.syncFull();
        assert.deepEqual(
          fullAfter.map((n, i) => n - (fullBefore[i] ?? 0)),
          [1, 0, 1, 0],
          "full resyncs served by east-0, east-1, west-0, west-1",
        );
        t.diagnostic(`write pause seen by the writer ${report.maxGapMs.toFixed(1)} ms`);
      } finally {
        await writer.stop();
      }
    });
  });

  describe("aborts when the old primary cannot log in to the target", () => {
    const regions = new Regions("127.95.5", "127.95.6", "switchover-pw-40c2", false);
    before(() => regions.start());
    after(() => regions.stop());

    it("changes nothing and says the target caught up but was not handed the role", async () => {
      const { east0, east1, west0, west1 } = regions;
      const target = { host: west0.host, port: west0.port };
      await prepareHandoffTarget(regions.admin(west0), target);
      const fullBefore = await regions.syncFull();
      const writer = startFollowingWriter([east0.endpoint, west0.endpoint], "auth");
      try {
        await whileWriting(writer.acknowledgedCount, 200);
        const outcome = await switchover({
          primary: regions.admin(east0),
          target,
          timeoutMs: 5000,
          targetAdmin: regions.admin(west0),
        });
        assert.equal(outcome.kind, "aborted", JSON.stringify(outcome));
        assert.equal(
          outcome.kind === "aborted" ? outcome.reason : "",
          `${west0.host}:6379 caught up but did not take the primary role: PSYNC FAILOVER refused or lost ` +
            "(can the old primary reach it at that address and log in with its masteruser/masterauth?); " +
            "nothing changed",
        );
        await whileWriting(writer.acknowledgedCount, 200);
        const report = await writer.stop();
        assert.equal(report.endpoint, 0, "the writer stayed on east-0");
        assert.equal(await infoField(east0, "replication", "role"), "master");
        assert.equal(await infoField(west0, "replication", "role"), "slave");
        await converged(east0, [east1, west0]);
        await converged(west0, [west1]);
        for (const p of regions.all) {
          assert.deepEqual(await missingOn(p, report), { missing: [], counter: report.counter }, p.host);
        }
        assert.deepEqual(
          await regions.syncFull(),
          fullBefore,
          "full resyncs (east-0, east-1, west-0, west-1)",
        );
      } finally {
        await writer.stop();
      }
    });
  });

  describe("times out when the target cannot catch up", () => {
    const regions = new Regions("127.95.3", "127.95.4");
    before(() => regions.start());
    after(async () => {
      regions.west0.resume();
      await regions.stop();
    });

    it("changes nothing: the old primary stays a writable primary and says why", async (t) => {
      const { east0, east1, west0, west1 } = regions;
      const target = { host: west0.host, port: west0.port };
      await prepareHandoffTarget(regions.admin(west0), target);
      const fullBefore = await regions.syncFull();
      const east0Admin = regions.admin(east0);
      const writer = startFollowingWriter([east0.endpoint, west0.endpoint], "to");
      try {
        await whileWriting(writer.acknowledgedCount, 200);
        // A frozen target: its connection stays open (listed online) but it acknowledges nothing more.
        west0.pause();
        await waitFor("the target behind the primary", async () => {
          const info = await east0Admin.replication();
          const listed = info.replicas.find((r) => r.ip === west0.host);
          return listed !== undefined && listed.offset < info.masterReplOffset;
        });

        const outcome = await switchover({
          primary: east0Admin,
          target,
          timeoutMs: 1000,
          targetAdmin: new IoredisAdmin(west0.endpoint, { commandTimeoutMs: 200 }),
        });
        assert.equal(outcome.kind, "aborted", JSON.stringify(outcome));
        assert.match(
          outcome.kind === "aborted" ? outcome.reason : "",
          new RegExp(
            `^${west0.host}:6379 did not reach offset \\d+ within 1000 ms \\(it acknowledged \\d+\\); nothing changed$`,
          ),
        );
        assert.equal(await infoField(east0, "replication", "role"), "master");
        assert.equal(await east0Admin.failoverState(), "no-failover");
        assert.equal(await setOn(east0), "OK");
        await whileWriting(writer.acknowledgedCount, 200);

        west0.resume();
        await whileWriting(writer.acknowledgedCount, 200);
        const report = await writer.stop();
        assert.equal(report.endpoint, 0, "the writer stayed on east-0");
        assert.equal(report.readonlyErrors, 0);
        await converged(east0, [east1, west0]);
        await converged(west0, [west1]);
        assert.equal(await infoField(west0, "replication", "role"), "slave");
        assert.equal(await infoField(west0, "replication", "master_host"), east0.host);
        for (const p of regions.all) {
          assert.deepEqual(await missingOn(p, report), { missing: [], counter: report.counter }, p.host);
        }
        assert.deepEqual(
          await regions.syncFull(),
          fullBefore,
          "full resyncs (east-0, east-1, west-0, west-1)",
        );
        t.diagnostic(
          `acknowledged ${report.acknowledged.length} writes; write pause seen by the writer ` +
            `${report.maxGapMs.toFixed(1)} ms (driver's pause ${outcome.kind === "aborted" ? outcome.pausedMs.toFixed(1) : "?"} ms)`,
        );
      } finally {
        west0.resume();
        await writer.stop();
      }
    });
  });
});
