import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  parseInfo,
  parseKeyCount,
  parsePersistenceInfo,
  parseReplicationInfo,
  parseStatsInfo,
} from "../../../controller/redis/info.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/redis/${name}`, import.meta.url), "utf8");

describe("INFO parser", () => {
  it("reads a primary with one online replica", () => {
    assert.deepEqual(parseReplicationInfo(fixture("info-replication-master-with-replica.txt")), {
      role: "master",
      masterReplid: "ed4276e27050189686a6a61adb1c443b785ae712",
      masterReplid2: "0000000000000000000000000000000000000000",
      masterReplOffset: 0,
      secondReplOffset: -1,
      connectedSlaves: 1,
      replicas: [{ ip: "127.0.0.1", port: 6379, state: "online", offset: 0, lag: 0 }],
      replBacklogSize: 1048576,
    });
  });

  it("leaves the backlog size out when INFO does not say it", () => {
    const info = parseReplicationInfo("# Replication\r\nrole:master\r\nmaster_repl_offset:42\r\n");
    assert.equal(info.masterReplOffset, 42);
    assert.equal("replBacklogSize" in info, false);
  });

  it("reads a replica whose link is up", () => {
    const info = parseReplicationInfo(fixture("info-replication-replica-link-up.txt"));
    assert.equal(info.role, "slave");
    assert.deepEqual(info.master, {
      host: "127.20.9.1",
      port: 6379,
      linkStatus: "up",
      syncInProgress: false,
      lastIoSecondsAgo: 1,
      linkDownSinceSeconds: -1,
      slaveReplOffset: 0,
    });
  });

  it("reads a replica whose link is down and for how long", () => {
    const info = parseReplicationInfo(fixture("info-replication-replica-link-down.txt"));
    assert.equal(info.master?.linkStatus, "down");
    assert.equal(info.master?.linkDownSinceSeconds, 1);
    assert.equal(info.master?.lastIoSecondsAgo, -1);
  });

  it("reads a promoted primary's previous history", () => {
    const info = parseReplicationInfo(fixture("info-replication-promoted.txt"));
    assert.equal(info.role, "master");
    assert.equal(info.master, undefined);
    assert.equal(info.masterReplid, "5405afefe85780421761f2a03c6e580a35cb95da");
    assert.equal(info.masterReplid2, "ed4276e27050189686a6a61adb1c443b785ae712");
    assert.equal(info.secondReplOffset, 1);
  });

  it("reads full and partial resynchronisation counters", () => {
    assert.deepEqual(parseStatsInfo(fixture("info-stats-master.txt")), {
      syncFull: 1,
      syncPartialOk: 0,
      syncPartialErr: 1,
    });
  });

  it("sums keys over every database", () => {
    assert.equal(parseKeyCount(fixture("info-keyspace.txt")), 2);
    assert.equal(
      parseKeyCount("# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\ndb3:keys=5,expires=0,avg_ttl=0\r\n"),
      7,
    );
    assert.equal(parseKeyCount("# Keyspace\r\n"), 0);
  });

  it("handles CRLF line endings, unknown sections and values containing colons", () => {
    const sections = parseInfo(
      "# Server\r\nredis_version:7.0.15\r\nexecutable:/usr/bin/a:b\r\n\r\n# Persistence\r\nloading:1\r\naof_enabled:1\r\n",
    );
    assert.equal(sections.get("server")?.get("executable"), "/usr/bin/a:b");
    assert.deepEqual(parsePersistenceInfo("# Persistence\r\nloading:1\r\naof_enabled:1\r\n"), {
      loading: true,
      aofEnabled: true,
    });
  });

  it("rejects an answer without a role", () => {
    assert.throws(() => parseReplicationInfo("# Server\r\nredis_version:7.0.15\r\n"), /no role/);
  });
});
