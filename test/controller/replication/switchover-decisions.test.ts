import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseReplicationInfo } from "../../../controller/redis/info.ts";
import {
  becamePrimaryByHandoff,
  decideJoin,
  handoffReadiness,
  handoffResult,
  pauseStartDelay,
} from "../../../controller/replication/decisions/switchover.ts";

// INFO replication in the shape redis-server 7.0 answers it in the switchover test (ids made readable): a
// replica that announces nothing is listed at its connection's source address, 127.0.0.1 on loopback here.
const EAST_PRIMARY = parseReplicationInfo(
  [
    "# Replication",
    "role:master",
    "connected_slaves:2",
    "slave0:ip=127.0.0.1,port=6379,state=online,offset=52310,lag=0",
    "slave1:ip=127.95.2.1,port=6379,state=online,offset=52310,lag=1",
    "master_failover_state:no-failover",
    "master_replid:e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1",
    "master_replid2:0000000000000000000000000000000000000000",
    "master_repl_offset:52310",
    "second_repl_offset:-1",
    "",
  ].join("\r\n"),
);
const FOREIGN_LISTED = parseReplicationInfo(
  [
    "# Replication",
    "role:master",
    "connected_slaves:2",
    "slave0:ip=127.0.0.1,port=6379,state=online,offset=52310,lag=0",
    "slave1:ip=west-0.dr-replica.invalid,port=6379,state=online,offset=52310,lag=0",
    "master_replid:e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1",
    "master_repl_offset:52310",
    "",
  ].join("\r\n"),
);
const EAST_REATTACHED = parseReplicationInfo(
  [
    "# Replication",
    "role:slave",
    "master_host:127.95.2.1",
    "master_port:6379",
    "master_link_status:up",
    "slave_repl_offset:52310",
    "master_replid:a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2",
    "master_replid2:e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1",
    "master_repl_offset:52310",
    "second_repl_offset:52311",
    "",
  ].join("\r\n"),
);
const WEST_PROMOTED = parseReplicationInfo(
  [
    "# Replication",
    "role:master",
    "connected_slaves:1",
    "master_replid:a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2",
    "master_replid2:e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1",
    "master_repl_offset:52310",
    "second_repl_offset:52311",
    "",
  ].join("\r\n"),
);
const TARGET = { host: "127.95.2.1", port: 6379 };

describe("handoffReadiness", () => {
  it("allows a primary listing the target online", () => {
    assert.deepEqual(handoffReadiness(EAST_PRIMARY, "no-failover", TARGET), { ready: true });
  });
  it("names what is listed when the target announces another address", () => {
    assert.deepEqual(handoffReadiness(FOREIGN_LISTED, "no-failover", TARGET), {
      ready: false,
      reason:
        "127.95.2.1:6379 is not listed as a replica of the old primary (listed: 127.0.0.1:6379, " +
        "west-0.dr-replica.invalid:6379); the target must announce that address (replica-announce-ip/-port) " +
        "and reconnect",
    });
  });
  it("refuses on a replica and during another failover", () => {
    assert.deepEqual(handoffReadiness(EAST_REATTACHED, "no-failover", TARGET), {
      ready: false,
      reason: "the old primary is a replica of 127.95.2.1:6379, not a primary",
    });
    assert.deepEqual(handoffReadiness(EAST_PRIMARY, "waiting-for-sync", TARGET), {
      ready: false,
      reason: "a failover is already in progress (waiting-for-sync)",
    });
  });
});

describe("handoffResult", () => {
  it("is handed-over when the old primary follows the target, on the target's new history", () => {
    assert.deepEqual(handoffResult(EAST_PRIMARY, EAST_REATTACHED, TARGET, undefined, 5000), {
      kind: "handed-over",
      replicationId: "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2",
      offset: 52310,
    });
  });
  it("is a split when the old primary gave up but the target took over", () => {
    assert.deepEqual(handoffResult(EAST_PRIMARY, EAST_PRIMARY, TARGET, WEST_PROMOTED, 5000), {
      kind: "split",
      replicationId: "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2",
    });
  });
  it("says how far a target that never caught up got", () => {
    const behind = parseReplicationInfo(
      "# Replication\r\nrole:master\r\nslave0:ip=127.95.2.1,port=6379,state=online,offset=50000,lag=1\r\n" +
        "master_replid:e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1\r\nmaster_repl_offset:52310\r\n",
    );
    assert.deepEqual(handoffResult(EAST_PRIMARY, behind, TARGET, undefined, 1000), {
      kind: "aborted",
      reason: "127.95.2.1:6379 did not reach offset 52310 within 1000 ms (it acknowledged 50000)",
    });
  });
  it("tells a target the old primary turned to but could not hand over to, though it is relisted at 0", () => {
    const relisted = parseReplicationInfo(
      "# Replication\r\nrole:master\r\nslave0:ip=127.95.2.1,port=6379,state=online,offset=0,lag=0\r\n" +
        "master_replid:c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3\r\nmaster_repl_offset:52310\r\n",
    );
    assert.equal(handoffResult(EAST_PRIMARY, relisted, TARGET, undefined, 1000, true).kind, "aborted");
    assert.match(
      (handoffResult(EAST_PRIMARY, relisted, TARGET, undefined, 1000, true) as { reason: string }).reason,
      /^127\.95\.2\.1:6379 caught up but did not take the primary role/,
    );
  });
  it("tells a caught-up target that refused the PSYNC FAILOVER", () => {
    assert.deepEqual(handoffResult(EAST_PRIMARY, EAST_PRIMARY, TARGET, undefined, 1000), {
      kind: "aborted",
      reason:
        "127.95.2.1:6379 caught up but did not take the primary role: PSYNC FAILOVER refused or lost " +
        "(can the old primary reach it at that address and log in with its masteruser/masterauth?)",
    });
  });
});

describe("becamePrimaryByHandoff", () => {
  it("recognises a leader whose previous history is the source's", () => {
    assert.equal(becamePrimaryByHandoff(WEST_PROMOTED, "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1"), true);
  });
  it("does not take a replica or another history for a hand-off", () => {
    assert.equal(becamePrimaryByHandoff(EAST_REATTACHED, "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1"), false);
    assert.equal(becamePrimaryByHandoff(WEST_PROMOTED, "ffffffffffffffffffffffffffffffffffffffff"), false);
    assert.equal(becamePrimaryByHandoff(WEST_PROMOTED, ""), false);
  });
});

describe("pauseStartDelay", () => {
  it("starts the pause the margin before the next periodic acknowledgement", () => {
    assert.equal(pauseStartDelay(1000, 1200, 50), 750);
    assert.equal(pauseStartDelay(1000, 1960, 50), 990);
    assert.equal(pauseStartDelay(1000, 3100, 50), 850);
  });
});

describe("decideJoin", () => {
  const WEST = { host: "127.95.2.1", port: 6379 };
  const HIDDEN = { host: "127.95.9.9", port: 6379 };
  it("hands over when the target is listed at its address and online", () => {
    assert.deepEqual(decideJoin(EAST_PRIMARY, "no-failover", WEST, 0, undefined), { kind: "hand-over" });
  });
  it("waits, naming what is listed, while the target is not listed at its address", () => {
    assert.deepEqual(
      decideJoin(FOREIGN_LISTED, "no-failover", HIDDEN, 0, { phase: "WaitingForTarget", attempt: 0 }),
      {
        kind: "wait",
        reason:
          "127.95.9.9:6379 is not listed as a replica of the old primary (listed: 127.0.0.1:6379, " +
          "west-0.dr-replica.invalid:6379); the target must announce that address (replica-announce-ip/-port) and reconnect",
      },
    );
  });
  it("follows once the leader replicates from the target", () => {
    assert.deepEqual(decideJoin(EAST_REATTACHED, "no-failover", WEST, 0, undefined), { kind: "follow" });
  });
  it("joins the ordinary way when the leader replicates from another primary", () => {
    const elsewhere = parseReplicationInfo(
      [
        "# Replication",
        "role:slave",
        "master_host:10.0.0.9",
        "master_port:6379",
        "master_link_status:up",
        "",
      ].join("\r\n"),
    );
    assert.deepEqual(decideJoin(elsewhere, "no-failover", WEST, 0, undefined, false), { kind: "follow" });
  });
  it("waits as a primary-to-be when the leader is parked or catching up inside its cluster", () => {
    const parked = parseReplicationInfo(
      [
        "# Replication",
        "role:slave",
        "master_host:127.0.0.1",
        "master_port:1",
        "master_link_status:down",
        "",
      ].join("\r\n"),
    );
    assert.deepEqual(decideJoin(parked, "no-failover", WEST, 0, undefined, true), {
      kind: "wait",
      reason: "the old primary is a replica of 127.0.0.1:1, not a primary",
    });
  });
  it("does not try a failed attempt again", () => {
    assert.deepEqual(decideJoin(EAST_PRIMARY, "no-failover", WEST, 1, { phase: "Failed", attempt: 1 }), {
      kind: "done",
      interrupted: false,
    });
  });
  it("does not try an attempt again that a restart interrupted", () => {
    assert.deepEqual(decideJoin(EAST_PRIMARY, "no-failover", WEST, 1, { phase: "HandingOver", attempt: 1 }), {
      kind: "done",
      interrupted: true,
    });
  });
  it("tries a new attempt after a failed one", () => {
    assert.deepEqual(decideJoin(EAST_PRIMARY, "no-failover", WEST, 2, { phase: "Failed", attempt: 1 }), {
      kind: "hand-over",
    });
  });
});
