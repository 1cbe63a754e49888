/**
 * Planned switchover benchmark (docs/switchover.md): the same hand-off N times, back and forth between two
 * "regions", under a steady write load from a writer that follows the primary, with the real driver
 * (controller/replication/switchover.ts) and real redis-servers. No sandbox, no controller: this measures
 * the Redis-level mechanism.
 *
 *   node --import tsx hack/bench/switchover.ts [--quick] [--runs N] [--rate W] [--ack-margin MS] [--json PATH]
 *
 * Regions (loopback 127.95.10/24 and 127.95.11/24, password in a 0600 config file): a-0 primary with a-1
 * its replica; b-0 replicating from a-0 with b-1 chained from it. Each run: the target (the current
 * primary's cross-region replica) announces its address and reconnects once (prepareHandoffTarget), a
 * fresh writer starts (W writes/s: SET of numbered keys, an INCR every tenth), the switchover runs after
 * 300 acknowledged writes, the writer goes on for 300 more on whichever side is primary, then every
 * instance must hold every acknowledged key and the last acknowledged counter value. Figures per run:
 *   lost        acknowledged keys missing on any of the four instances, counter short of its last ack
 *   fullSyncs   sum of the four instances' sync_full increases (the old primary re-attaches by PSYNC)
 *   pauseMs     the largest gap between two acknowledged writes the writer saw (the application's pause)
 *   drivenMs    how long the driver held writes (CLIENT PAUSE WRITE to CLIENT UNPAUSE)
 * in two conditions, alternating in pairs of runs (one each way): the pause started at once, or aligned
 * with the target's next acknowledgement (`ackMarginMs`, --ack-margin, default 50 ms before it).
 */
import { parseArgs } from "node:util";
import { IoredisAdmin } from "../../controller/redis/ioredis-admin.ts";
import { prepareHandoffTarget, switchover } from "../../controller/replication/switchover.ts";
import { startFollowingWriter } from "./lib/following-writer.ts";
import { infoField, poll, startRedisServer, type RedisServer } from "./lib/redis.ts";
import { machineDescription, median, percentile, printTable, round, writeJson } from "./lib/stats.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    rate: { type: "string", default: "1000" },
    "ack-margin": { type: "string", default: "50" },
    json: { type: "string", default: "hack/bench/results/switchover.json" },
  },
});
const RUNS = Number(values.runs ?? (values.quick === true ? 8 : 40));
const RATE = Number(values.rate);
const PASSWORD = "bench-switchover-pw-5e1d";
const TIMEOUT_MS = 5000;
const ACK_MARGIN_MS = Number(values["ack-margin"]);

interface RunResult {
  readonly run: number;
  /** Pause started just before the target's next acknowledgement (ackMarginMs), or at once. */
  readonly aligned: boolean;
  readonly from: string;
  readonly to: string;
  readonly outcome: string;
  readonly acknowledged: number;
  readonly lost: number;
  readonly fullSyncs: number;
  readonly pauseMs: number;
  readonly drivenMs: number;
  readonly readonlyErrors: number;
}

async function info(server: RedisServer, section: string, field: string): Promise<string | undefined> {
  const client = server.client();
  try {
    return infoField(await client.info(section), field);
  } finally {
    client.disconnect();
  }
}

async function replicaOf(replica: RedisServer, primary: RedisServer): Promise<void> {
  const client = replica.client();
  await client.replicaof(primary.host, primary.port);
  client.disconnect();
}

async function converged(primary: RedisServer, replicas: readonly RedisServer[]): Promise<void> {
  await poll(
    "replicas caught up",
    async () => {
      const offset = await info(primary, "replication", "master_repl_offset");
      for (const r of replicas) {
        if ((await info(r, "replication", "master_link_status")) !== "up") return false;
        if ((await info(r, "replication", "master_repl_offset")) !== offset) return false;
      }
      return true;
    },
    { timeoutMs: 20_000, intervalMs: 20 },
  );
}

async function lostOn(server: RedisServer, keys: readonly string[], counterKey: string, counter: number) {
  const client = server.client();
  try {
    let lost = 0;
    for (let i = 0; i < keys.length; i += 500) {
      const values = await client.mget(...keys.slice(i, i + 500));
      lost += values.filter((v) => v === null).length;
    }
    if (Number((await client.get(counterKey)) ?? 0) < counter) lost++;
    return lost;
  } finally {
    client.disconnect();
  }
}

async function main(): Promise<void> {
  const a0 = await startRedisServer("127.95.10.1", 6379, PASSWORD);
  const a1 = await startRedisServer("127.95.10.2", 6379, PASSWORD);
  const b0 = await startRedisServer("127.95.11.1", 6379, PASSWORD);
  const b1 = await startRedisServer("127.95.11.2", 6379, PASSWORD);
  const all = [a0, a1, b0, b1];
  const names = new Map([
    [a0, "a-0"],
    [b0, "b-0"],
  ]);
  const results: RunResult[] = [];
  try {
    // Every instance may have to follow the other region's after a hand-off (the old primary logs in to
    // the target with it: without it the hand-off is aborted).
    for (const s of all) {
      const client = s.client();
      await client.config("SET", "masterauth", PASSWORD);
      client.disconnect();
    }
    await replicaOf(a1, a0);
    await replicaOf(b0, a0);
    await replicaOf(b1, b0);
    await converged(a0, [a1, b0]);
    await converged(b0, [b1]);
    let [primary, target] = [a0, b0];
    for (let run = 1; run <= RUNS; run++) {
      const syncFull = async () =>
        (await Promise.all(all.map((s) => info(s, "stats", "sync_full")))).reduce((t, v) => t + Number(v), 0);
      const fullBefore = await syncFull();
      const targetAdmin = new IoredisAdmin({ host: target.host, port: target.port, password: PASSWORD });
      const primaryAdmin = new IoredisAdmin(
        { host: primary.host, port: primary.port, password: PASSWORD },
        { commandTimeoutMs: 5000 },
      );
      await prepareHandoffTarget(targetAdmin, { host: target.host, port: target.port });
      const writer = startFollowingWriter(
        [primary, target].map((s) => ({ host: s.host, port: s.port, password: PASSWORD })),
        `run${run}`,
        RATE,
      );
      const more = async (n: number) => {
        const goal = writer.acknowledgedCount() + n;
        await poll(`${n} acknowledged writes`, () => writer.acknowledgedCount() >= goal, { intervalMs: 5 });
      };
      await more(300);
      // Conditions alternate in pairs (one run each way) so drift and direction hit both alike.
      const aligned = Math.floor((run - 1) / 2) % 2 === 1;
      const outcome = await switchover({
        primary: primaryAdmin,
        target: { host: target.host, port: target.port },
        timeoutMs: TIMEOUT_MS,
        targetAdmin,
        ackMarginMs: aligned ? ACK_MARGIN_MS : undefined,
      });
      await more(300);
      const report = await writer.stop();
      await Promise.all([primaryAdmin.close(), targetAdmin.close()]);
      const handedOver = outcome.kind === "handed-over";
      const newPrimary = handedOver ? target : primary;
      const oldPrimary = handedOver ? primary : target;
      const chained = all.filter((s) => s !== a0 && s !== b0);
      await converged(newPrimary, [oldPrimary]);
      for (const s of chained) await converged(s === a1 ? a0 : b0, [s]);
      let lost = 0;
      for (const s of all) lost += await lostOn(s, report.acknowledged, report.counterKey, report.counter);
      const result: RunResult = {
        run,
        aligned,
        from: names.get(primary) ?? "?",
        to: names.get(target) ?? "?",
        outcome: outcome.kind,
        acknowledged: report.acknowledged.length,
        lost,
        fullSyncs: (await syncFull()) - fullBefore,
        pauseMs: round(report.maxGapMs, 1),
        drivenMs: outcome.kind === "refused" ? 0 : round(outcome.pausedMs, 1),
        readonlyErrors: report.readonlyErrors,
      };
      results.push(result);
      if (process.env.BENCH_VERBOSE === "1") console.log(JSON.stringify(result));
      if (outcome.kind !== "handed-over") console.error(`run ${run}: ${JSON.stringify(outcome)}`);
      if (handedOver) [primary, target] = [target, primary];
    }
  } finally {
    await Promise.all(all.map((s) => s.stop()));
  }

  const summarise = (rows: readonly RunResult[]) => {
    const handed = rows.filter((r) => r.outcome === "handed-over");
    const pauses = handed.map((r) => r.pauseMs);
    const driven = handed.map((r) => r.drivenMs);
    return {
      runs: rows.length,
      handedOver: handed.length,
      acknowledgedWritesLost: rows.reduce((t, r) => t + r.lost, 0),
      fullResyncs: rows.reduce((t, r) => t + r.fullSyncs, 0),
      pauseP50Ms: round(median(pauses), 1),
      pauseP99Ms: round(percentile(pauses, 99), 1),
      pauseMaxMs: round(Math.max(...pauses), 1),
      drivenP50Ms: round(median(driven), 1),
      drivenP99Ms: round(percentile(driven, 99), 1),
    };
  };
  const summary = {
    writeRatePerSecond: RATE,
    ackMarginMs: ACK_MARGIN_MS,
    atOnce: summarise(results.filter((r) => !r.aligned)),
    alignedWithAcks: summarise(results.filter((r) => r.aligned)),
    all: summarise(results),
  };
  printTable(
    (["atOnce", "alignedWithAcks", "all"] as const).map((condition) => {
      const s = summary[condition];
      return {
        pause: condition,
        runs: s.runs,
        "handed over": s.handedOver,
        "writes/s": RATE,
        "acked lost": s.acknowledgedWritesLost,
        "full resyncs": s.fullResyncs,
        "pause p50 ms": s.pauseP50Ms,
        "pause p99 ms": s.pauseP99Ms,
        "pause max ms": s.pauseMaxMs,
        "driver p50 ms": s.drivenP50Ms,
      };
    }),
  );
  writeJson(values.json ?? "hack/bench/results/switchover.json", {
    machine: await machineDescription(),
    summary,
    runs: results,
  });
  const overall = summary.all;
  if (overall.acknowledgedWritesLost > 0 || overall.fullResyncs > 0 || overall.handedOver < overall.runs) {
    process.exitCode = 1;
  }
}

await main();
