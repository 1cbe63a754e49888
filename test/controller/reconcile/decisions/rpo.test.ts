import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SourceMemory } from "../../../../controller/replication/decisions/rpo.ts";
import {
  MIB,
  backlogHorizonCondition,
  backlogHorizonSeconds,
  backlogTooSmallEventDue,
  lagSeconds,
  recommendedBacklogBytes,
  rememberSample,
  rpoSeconds,
  stableRecommendation,
  writeRate,
} from "../../../../controller/replication/decisions/rpo.ts";
import { drFiguresOf } from "../../../../controller/replication/report.ts";
import type { SourceObservation } from "../../../../controller/replication/observe.ts";

const ID = "ed4276e27050189686a6a61adb1c443b785ae712";
const OTHER_ID = "5405afefe85780421761f2a03c6e580a35cb95da";

describe("writeRate", () => {
  it("is the offset growth per second between two samples of one history", () => {
    assert.equal(
      writeRate({ replid: ID, offset: 1000, atMs: 10_000 }, { replid: ID, offset: 21_000, atMs: 14_000 }),
      5000,
    );
  });

  for (const [name, previous] of [
    ["no earlier sample", undefined],
    ["another history", { replid: OTHER_ID, offset: 1000, atMs: 10_000 }],
    ["an offset that went back", { replid: ID, offset: 30_000, atMs: 10_000 }],
    ["samples under a second apart", { replid: ID, offset: 1000, atMs: 13_500 }],
  ] as const) {
    it(`is unknown after ${name}`, () => {
      assert.equal(writeRate(previous, { replid: ID, offset: 21_000, atMs: 14_000 }), undefined);
    });
  }
});

describe("rememberSample", () => {
  const memory: SourceMemory = {
    sample: { replid: ID, offset: 1000, atMs: 10_000 },
    rate: 250,
    lagSeconds: 0,
    seenAtMs: 10_000,
    recommendedBacklogBytes: undefined,
  };

  it("keeps the earlier sample and its rate for a sighting under a second later", () => {
    assert.deepEqual(rememberSample(memory, { replid: ID, offset: 1200, atMs: 10_400 }), memory);
  });

  it("moves to the new sample with the rate since the earlier one", () => {
    assert.deepEqual(rememberSample(memory, { replid: ID, offset: 3000, atMs: 12_000 }), {
      sample: { replid: ID, offset: 3000, atMs: 12_000 },
      rate: 1000,
    });
  });

  it("starts over, without a rate, on a new history", () => {
    assert.deepEqual(rememberSample(memory, { replid: OTHER_ID, offset: 5, atMs: 12_000 }), {
      sample: { replid: OTHER_ID, offset: 5, atMs: 12_000 },
      rate: undefined,
    });
  });
});

describe("lagSeconds and rpoSeconds", () => {
  it("is the lag over the rate, 0 without lag even with no rate, unknown when the bytes cannot be dated", () => {
    assert.equal(lagSeconds(50_000, 10_000), 5);
    assert.equal(lagSeconds(0, undefined), 0);
    assert.equal(lagSeconds(50_000, 0), undefined);
    assert.equal(lagSeconds(50_000, undefined), undefined);
    assert.equal(lagSeconds(undefined, 10_000), undefined);
  });

  it("is the lag-time now while the source answers", () => {
    const rpo = rpoSeconds({
      sourceSeen: true,
      lagSecondsNow: 2.5,
      lastLagSeconds: 9,
      lastSeenMs: 1000,
      nowMs: 60_000,
    });
    assert.equal(rpo, 2.5);
  });

  it("adds the time since the source was last seen to the lag-time then, while it cannot be asked", () => {
    const rpo = rpoSeconds({
      sourceSeen: false,
      lagSecondsNow: undefined,
      lastLagSeconds: 2.5,
      lastSeenMs: 100_000,
      nowMs: 130_000,
    });
    assert.equal(rpo, 32.5);
  });

  it("is unknown while the source cannot be asked and no lag-time was ever computed", () => {
    const rpo = rpoSeconds({
      sourceSeen: false,
      lagSecondsNow: undefined,
      lastLagSeconds: undefined,
      lastSeenMs: 100_000,
      nowMs: 130_000,
    });
    assert.equal(rpo, undefined);
  });
});

describe("backlogHorizonSeconds and the recommendation", () => {
  it("is the backlog's room ahead of the leader over the write rate", () => {
    assert.equal(backlogHorizonSeconds(MIB, 0, 1024), 1024);
    assert.equal(backlogHorizonSeconds(MIB, 24 * 1024, 1024), 1000);
    assert.equal(backlogHorizonSeconds(MIB, 2 * MIB, 1024), 0);
  });

  it("is unknown when the rate is 0 or unknown, or the backlog size unknown", () => {
    assert.equal(backlogHorizonSeconds(MIB, 0, 0), undefined);
    assert.equal(backlogHorizonSeconds(MIB, 0, undefined), undefined);
    assert.equal(backlogHorizonSeconds(undefined, 0, 1024), undefined);
  });

  it("recommends an hour of writes, rounded up to a MiB", () => {
    // 10 KiB/s for an hour is 35.16 MiB.
    assert.equal(recommendedBacklogBytes(10 * 1024), 36 * MIB);
    assert.equal(recommendedBacklogBytes(1), MIB);
  });

  it("keeps a recommendation the rate's noise moves by 25 % or less", () => {
    assert.equal(stableRecommendation(undefined, 36 * MIB), 36 * MIB);
    assert.equal(stableRecommendation(36 * MIB, 40 * MIB), 36 * MIB);
    assert.equal(stableRecommendation(36 * MIB, 27 * MIB), 36 * MIB);
    assert.equal(stableRecommendation(36 * MIB, 46 * MIB), 46 * MIB);
    assert.equal(stableRecommendation(36 * MIB, 26 * MIB), 26 * MIB);
  });
});

describe("backlogHorizonCondition", () => {
  const base = { thresholdSeconds: 300, backlogBytes: MIB, sourceName: "prod-east" };

  it("says False/BacklogTooSmall with the recommended size and the exact command below the threshold", () => {
    assert.deepEqual(
      backlogHorizonCondition({ ...base, horizonSeconds: 102.4, recommendedBytes: 36 * MIB }),
      {
        type: "BacklogHorizon",
        status: "False",
        reason: "BacklogTooSmall",
        message:
          "prod-east's repl-backlog-size (1 MiB) lasts less than 300 s of link outage at its current write " +
          "rate: a longer outage forces a full cross-region resync. Recommended: 37748736 bytes (36 MiB, an " +
          "hour of writes); on the source run CONFIG SET repl-backlog-size 37748736 (and set it in its " +
          "configuration file)",
      },
    );
  });

  it("says True/Sufficient at or above the threshold, with no live figure in the message", () => {
    const at = (horizonSeconds: number) =>
      backlogHorizonCondition({ ...base, horizonSeconds, recommendedBytes: undefined });
    assert.deepEqual(at(300), {
      type: "BacklogHorizon",
      status: "True",
      reason: "Sufficient",
      message:
        "prod-east's repl-backlog-size (1 MiB) lasts at least 300 s of link outage at its current write " +
        "rate before a full resync is needed",
    });
    assert.deepEqual(at(301), at(9000));
  });

  it("leaves the condition as it is while the horizon is unknown", () => {
    assert.equal(
      backlogHorizonCondition({ ...base, horizonSeconds: undefined, recommendedBytes: MIB }),
      undefined,
    );
  });
});

describe("backlogTooSmallEventDue", () => {
  const tooSmall = (bytes: number) => ({ status: "False", message: `CONFIG SET repl-backlog-size ${bytes}` });
  const sufficient = { status: "True", message: "lasts at least 300 s" };

  it("is due when the condition turns False or its recommendation changes, and only then", () => {
    assert.equal(backlogTooSmallEventDue(undefined, tooSmall(1)), true);
    assert.equal(backlogTooSmallEventDue(sufficient, tooSmall(1)), true);
    assert.equal(backlogTooSmallEventDue(tooSmall(1), tooSmall(2)), true);
    assert.equal(backlogTooSmallEventDue(tooSmall(1), tooSmall(1)), false);
    assert.equal(backlogTooSmallEventDue(tooSmall(1), sufficient), false);
    assert.equal(backlogTooSmallEventDue(undefined, undefined), false);
  });
});

describe("drFiguresOf", () => {
  const seen = (offset: number, backlog = MIB): SourceObservation => ({
    offset,
    snapshot: {
      replication: {
        role: "master",
        masterReplid: ID,
        masterReplid2: "0000000000000000000000000000000000000000",
        masterReplOffset: offset,
        secondReplOffset: -1,
        connectedSlaves: 1,
        replicas: [],
        replBacklogSize: backlog,
      },
      stats: { syncFull: 0, syncPartialOk: 0, syncPartialErr: 0 },
      persistence: { loading: false, aofEnabled: false },
      keyCount: 0,
    },
  });
  const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));

  it("has no rate, RPO or horizon at the first sighting, then all three", () => {
    const first = drFiguresOf({
      memory: undefined,
      source: seen(100_000),
      lagBytes: 2048,
      thresholdSeconds: 300,
      now: at(0),
    });
    assert.deepEqual(first.figures, {});
    const second = drFiguresOf({
      memory: first.memory,
      source: seen(100_000 + 10 * 4096),
      lagBytes: 2048,
      thresholdSeconds: 300,
      now: at(10),
    });
    assert.deepEqual(second.figures, {
      writeRateBytesPerSecond: 4096,
      rpoSeconds: 0.5,
      backlogHorizonSeconds: (MIB - 2048) / 4096,
    });
    // 255.5 s is below 300 s: an hour at 4 KiB/s is 14.06 MiB, rounded up.
    assert.equal(second.memory?.recommendedBacklogBytes, 15 * MIB);
    assert.equal(second.backlogBytes, MIB);

    // Then the source cannot be asked for 30 s: the RPO grows from the last lag-time, nothing else is known.
    const cut = drFiguresOf({
      memory: second.memory,
      source: { failure: { kind: "unreachable", message: "connect ETIMEDOUT" } },
      lagBytes: 2048,
      thresholdSeconds: 300,
      now: at(40),
    });
    assert.deepEqual(cut.figures, { rpoSeconds: 30.5 });
    assert.deepEqual(cut.memory, second.memory);
  });
});
