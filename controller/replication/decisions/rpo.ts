/**
 * The DR pair's time figures, from offsets: the source's write rate, the RPO (how far back in time the DR
 * leader's data is) and the backlog horizon (how long the link may be down before only a full resync can
 * bring the leader back). Pure: the caller keeps the previous sample (in memory: a restart loses the rate
 * for one interval, which costs nothing but one interval of series).
 */
import type { ConditionInput } from "../../model/conditions.ts";

/** One sighting of the source's master_repl_offset, in one replication history. */
export interface OffsetSample {
  readonly replid: string;
  readonly offset: number;
  readonly atMs: number;
}

/** What the controller remembers about a cluster's source between passes. */
export interface SourceMemory {
  readonly sample: OffsetSample;
  /** Bytes per second over the interval that ended at `sample`; undefined before a second sample. */
  readonly rate: number | undefined;
  /** The lag in seconds computed when the source was last seen. */
  readonly lagSeconds: number | undefined;
  /** When the source was last seen (`sample` may be older: close sightings keep the earlier one). */
  readonly seenAtMs: number;
  /** The last repl-backlog-size recommended, kept while new figures are within RECOMMENDATION_SLACK. */
  readonly recommendedBacklogBytes: number | undefined;
}

/**
 * Samples closer than this are not turned into a rate: reconciles woken by Events come in bursts, and a
 * rate over a few milliseconds is noise (the source's offset grows in whole commands).
 */
const MIN_RATE_INTERVAL_MS = 1000;

/**
 * The source's write rate between two samples, in bytes per second of replication stream. Undefined when
 * there is no earlier sample, the history changed (a new replication ID, or an offset that went back: the
 * offsets of two histories do not subtract) or the samples are too close together.
 */
export function writeRate(previous: OffsetSample | undefined, current: OffsetSample): number | undefined {
  if (previous === undefined || previous.replid !== current.replid) return undefined;
  const intervalMs = current.atMs - previous.atMs;
  if (intervalMs < MIN_RATE_INTERVAL_MS || current.offset < previous.offset) return undefined;
  return ((current.offset - previous.offset) * 1000) / intervalMs;
}

/** The memory after a pass that saw the source (`current`), keeping the earlier sample for close ones. */
export function rememberSample(
  memory: SourceMemory | undefined,
  current: OffsetSample,
): Pick<SourceMemory, "sample" | "rate"> {
  if (memory === undefined) return { sample: current, rate: undefined };
  const sameHistory = memory.sample.replid === current.replid && current.offset >= memory.sample.offset;
  if (!sameHistory) return { sample: current, rate: undefined };
  if (current.atMs - memory.sample.atMs < MIN_RATE_INTERVAL_MS) return memory;
  return { sample: current, rate: writeRate(memory.sample, current) };
}

/**
 * The time the leader is behind the source at the current write rate: lag bytes over bytes per second.
 * 0 when it lacks nothing; undefined when the lag or the rate is unknown, or when bytes are missing but the
 * source writes nothing now (they cannot be dated from the rate).
 */
export function lagSeconds(lagBytes: number | undefined, rate: number | undefined): number | undefined {
  if (lagBytes === 0) return 0;
  if (lagBytes === undefined || rate === undefined || rate <= 0) return undefined;
  return lagBytes / rate;
}

/**
 * The RPO: how far back in time the newest data the leader holds lies, assuming the source keeps writing.
 * While the source answers, the lag-time now. While it cannot be asked, the lag-time when it was last seen
 * plus the time since: the leader is assumed to have received nothing since (exact while its link is down,
 * errs high while it is up); the bytes lag status reports is a lower bound for the same reason.
 */
export function rpoSeconds(input: {
  readonly sourceSeen: boolean;
  readonly lagSecondsNow: number | undefined;
  readonly lastLagSeconds: number | undefined;
  readonly lastSeenMs: number | undefined;
  readonly nowMs: number;
}): number | undefined {
  if (input.sourceSeen) return input.lagSecondsNow;
  if (input.lastLagSeconds === undefined || input.lastSeenMs === undefined) return undefined;
  return Math.max(0, input.nowMs - input.lastSeenMs) / 1000 + input.lastLagSeconds;
}

/**
 * How long the leader's link may be down before the source's backlog no longer holds what the leader
 * lacks (then only a full cross-region resync brings it back): the backlog's free room ahead of the
 * leader's position — its size less the current lag — over the write rate. Undefined when the rate is 0 or
 * unknown (the backlog lasts as long as nothing is written) or the backlog size is unknown.
 */
export function backlogHorizonSeconds(
  backlogBytes: number | undefined,
  lagBytes: number | undefined,
  rate: number | undefined,
): number | undefined {
  if (backlogBytes === undefined || rate === undefined || rate <= 0) return undefined;
  return Math.max(0, backlogBytes - (lagBytes ?? 0)) / rate;
}

export const MIB = 1024 * 1024;
/** The horizon the recommendation aims for: an hour's outage of the link resumes with a partial resync. */
const RECOMMENDED_HORIZON_SECONDS = 3600;
/** A recommendation is kept until the figures move it by more than this fraction (rate noise). */
const RECOMMENDATION_SLACK = 0.25;

/** The repl-backlog-size that lasts RECOMMENDED_HORIZON_SECONDS at `rate`, rounded up to a MiB. */
export function recommendedBacklogBytes(rate: number): number {
  return Math.max(1, Math.ceil((rate * RECOMMENDED_HORIZON_SECONDS) / MIB)) * MIB;
}

/** The new recommendation, or the previous one while the new one is within RECOMMENDATION_SLACK of it. */
export function stableRecommendation(previous: number | undefined, next: number): number {
  if (previous === undefined) return next;
  return Math.abs(next - previous) <= previous * RECOMMENDATION_SLACK ? previous : next;
}

const mib = (bytes: number): string => `${Math.round((bytes / MIB) * 10) / 10} MiB`;

export const BACKLOG_HORIZON_CONDITION = "BacklogHorizon";

/**
 * Condition BacklogHorizon: False/BacklogTooSmall with the recommendation and the exact command when the
 * horizon is below the threshold, True/Sufficient otherwise. Its message holds no live figure (the
 * horizon moves every pass), so a steady source writes no status. Undefined when the horizon is unknown:
 * the condition stays as it was.
 */
export function backlogHorizonCondition(input: {
  readonly horizonSeconds: number | undefined;
  readonly thresholdSeconds: number;
  readonly backlogBytes: number | undefined;
  readonly recommendedBytes: number | undefined;
  readonly sourceName: string;
}): ConditionInput | undefined {
  const { horizonSeconds, thresholdSeconds, backlogBytes, recommendedBytes, sourceName } = input;
  if (horizonSeconds === undefined || backlogBytes === undefined) return undefined;
  if (horizonSeconds >= thresholdSeconds || recommendedBytes === undefined) {
    return {
      type: BACKLOG_HORIZON_CONDITION,
      status: "True",
      reason: "Sufficient",
      message:
        `${sourceName}'s repl-backlog-size (${mib(backlogBytes)}) lasts at least ${thresholdSeconds} s of ` +
        "link outage at its current write rate before a full resync is needed",
    };
  }
  return {
    type: BACKLOG_HORIZON_CONDITION,
    status: "False",
    reason: "BacklogTooSmall",
    message:
      `${sourceName}'s repl-backlog-size (${mib(backlogBytes)}) lasts less than ${thresholdSeconds} s of link ` +
      "outage at its current write rate: a longer outage forces a full cross-region resync. Recommended: " +
      `${recommendedBytes} bytes (${mib(recommendedBytes)}, an hour of writes); on the source run ` +
      `CONFIG SET repl-backlog-size ${recommendedBytes} (and set it in its configuration file)`,
  };
}

/** BacklogHorizon once the cluster follows no source (promoted): what it said about the source is moot. */
export const BACKLOG_HORIZON_NOT_REPLICATING: ConditionInput = {
  type: BACKLOG_HORIZON_CONDITION,
  status: "True",
  reason: "NotReplicating",
  message: "The cluster does not replicate from a source",
};

/**
 * The Warning Event BacklogTooSmall is due when the condition becomes False or its recommendation changes
 * (its message): once per change, not every pass.
 */
export function backlogTooSmallEventDue(
  before: { readonly status: string; readonly message: string } | undefined,
  after: { readonly status: string; readonly message: string } | undefined,
): boolean {
  if (after?.status !== "False") return false;
  return before?.status !== "False" || before.message !== after.message;
}
