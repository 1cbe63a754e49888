/**
 * What the cluster reports after a reconcile: status.replication, the conditions, and per-pod figures for
 * the metrics. Observation here, decisions in replication/decisions/.
 */
import type { RedisClusterStatus } from "../../schemas/generated/rediscluster.ts";
import { recordOffsets } from "./decisions/catch-up.ts";
import type { ConditionInput } from "../model/conditions.ts";
import { replicaModeCondition, replicationHealthyCondition } from "../model/conditions.ts";
import type { ObservedPod } from "../model/pods.ts";
import { LEADER_ORDINAL, designatedLeaderName, isPrimary } from "../model/pods.ts";
import type { DrFigures, PodReplicationFigures } from "../model/figures.ts";
import { podReplicationFigures, replicationReport } from "./decisions/replication-status.ts";
import { sentinelManaged } from "../model/intent.ts";
import { replicasInSyncCondition } from "./decisions/replica-health.ts";
import type { SourceMemory } from "./decisions/rpo.ts";
import {
  BACKLOG_HORIZON_CONDITION,
  BACKLOG_HORIZON_NOT_REPLICATING,
  backlogHorizonCondition,
  backlogHorizonSeconds,
  lagSeconds,
  recommendedBacklogBytes,
  rememberSample,
  rpoSeconds,
  stableRecommendation,
} from "./decisions/rpo.ts";
import { findCondition, setCondition } from "../status/conditions.ts";
import type { StatusTransaction } from "../status/transaction.ts";
import type { ReplicationContext } from "./context.ts";
import type { SourceObservation } from "./observe.ts";
import { observePods, observeSource } from "./observe.ts";

export interface ClusterReport {
  readonly pods: readonly ObservedPod[];
  readonly source: SourceObservation | undefined;
  readonly figures: readonly PodReplicationFigures[];
  /** The DR pair's time figures (undefined for a cluster that does not follow a source). */
  readonly dr: DrFigures | undefined;
  readonly conditions: readonly ConditionInput[];
  readonly transaction: StatusTransaction;
  /** The designated leader accepts writes (undefined when it could not be asked). */
  readonly leaderWritable: boolean | undefined;
}

/**
 * Empty while replicating: only a writable leader is a primary (a catch-up donor is not). In Sentinel mode,
 * whichever pod Sentinel made the primary. Kept as it was when the pod that would tell cannot be asked.
 */
function currentPrimaryOf(
  sentinel: boolean,
  pods: readonly ObservedPod[],
  leader: ObservedPod | undefined,
  previous: string | undefined,
): string | undefined {
  if (sentinel) {
    if (pods.every((p) => p.snapshot === undefined)) return previous;
    const primaries = pods.filter((p) => isPrimary(p.snapshot));
    // No primary during a failover: the one being failed over stays named until Sentinel elects another.
    if (primaries.length === 0) return previous;
    primaries.sort(
      (a, b) =>
        (b.snapshot?.replication.connectedSlaves ?? 0) - (a.snapshot?.replication.connectedSlaves ?? 0),
    );
    return primaries[0]?.name;
  }
  if (leader?.snapshot === undefined) return previous;
  return isPrimary(leader.snapshot) ? leader.name : undefined;
}

/** The default of --backlog-horizon-threshold. */
const DEFAULT_BACKLOG_HORIZON_THRESHOLD_SECONDS = 300;

/**
 * The write rate, RPO and backlog horizon from this pass' sighting of the source (or its absence) and what
 * the controller remembers from earlier ones; the memory to keep for the next pass.
 */
export function drFiguresOf(input: {
  readonly memory: SourceMemory | undefined;
  readonly source: SourceObservation | undefined;
  readonly lagBytes: number | undefined;
  readonly thresholdSeconds: number;
  readonly now: Date;
}): {
  readonly figures: DrFigures;
  readonly memory: SourceMemory | undefined;
  readonly backlogBytes?: number;
} {
  const { memory, lagBytes, thresholdSeconds, now } = input;
  const snapshot = input.source?.snapshot;
  if (snapshot === undefined) {
    const rpo = rpoSeconds({
      sourceSeen: false,
      lagSecondsNow: undefined,
      lastLagSeconds: memory?.lagSeconds,
      lastSeenMs: memory?.seenAtMs,
      nowMs: now.getTime(),
    });
    return { figures: rpo === undefined ? {} : { rpoSeconds: rpo }, memory };
  }
  const { sample, rate } = rememberSample(memory, {
    replid: snapshot.replication.masterReplid,
    offset: snapshot.replication.masterReplOffset,
    atMs: now.getTime(),
  });
  const lagTime = lagSeconds(lagBytes, rate);
  const backlogBytes = snapshot.replication.replBacklogSize;
  const horizon = backlogHorizonSeconds(backlogBytes, lagBytes, rate);
  const recommended =
    horizon !== undefined && horizon < thresholdSeconds && rate !== undefined
      ? stableRecommendation(memory?.recommendedBacklogBytes, recommendedBacklogBytes(rate))
      : undefined;
  return {
    figures: {
      ...(rate === undefined ? {} : { writeRateBytesPerSecond: rate }),
      ...(lagTime === undefined ? {} : { rpoSeconds: lagTime }),
      ...(horizon === undefined ? {} : { backlogHorizonSeconds: horizon }),
    },
    memory: {
      sample,
      rate,
      lagSeconds: lagTime,
      seenAtMs: now.getTime(),
      // Kept while the horizon is unknown (no rate this pass), so the condition's message does not move.
      recommendedBacklogBytes: horizon === undefined ? memory?.recommendedBacklogBytes : recommended,
    },
    ...(backlogBytes === undefined ? {} : { backlogBytes }),
  };
}

/**
 * BacklogHorizon from this pass' figures, once it has been False (absent while the backlog was always enough);
 * NotReplicating once the cluster follows no source, where the condition was set; unchanged while the horizon
 * is unknown.
 */
function backlogConditionOf(
  ctx: ReplicationContext,
  followsSource: boolean,
  dr: ReturnType<typeof drFiguresOf> | undefined,
  status: RedisClusterStatus,
): ConditionInput | undefined {
  if (!followsSource) {
    const had = findCondition(status.conditions, BACKLOG_HORIZON_CONDITION) !== undefined;
    return had ? BACKLOG_HORIZON_NOT_REPLICATING : undefined;
  }
  const source =
    ctx.intent.kind === "replicate" || ctx.intent.kind === "demote" ? ctx.intent.source : undefined;
  if (dr === undefined || source === undefined || ctx.sourceMemory === undefined) return undefined;
  const condition = backlogHorizonCondition({
    horizonSeconds: dr.figures.backlogHorizonSeconds,
    thresholdSeconds: ctx.backlogHorizonThresholdSeconds ?? DEFAULT_BACKLOG_HORIZON_THRESHOLD_SECONDS,
    backlogBytes: dr.backlogBytes,
    recommendedBytes: dr.memory?.recommendedBacklogBytes,
    sourceName: source.clusterName,
  });
  // Like the other conditions that report a problem, absent until there is one: a healthy cluster's status
  // does not depend on whether a write rate was measured yet.
  const had = findCondition(status.conditions, BACKLOG_HORIZON_CONDITION) !== undefined;
  return condition?.status === "True" && !had ? undefined : condition;
}

/** The replica-max-lag Redis applies to min-replicas-to-write (its default; the pods keep it). */
const MIN_REPLICAS_MAX_LAG_SECONDS = 10;

/**
 * Replicas of the primary that count for min-replicas-to-write: online and acknowledged within the max lag
 * (Redis' own rule). Undefined when no pod is the primary or it could not be asked.
 */
function syncReplicasOf(primary: ObservedPod | undefined): number | undefined {
  const replication = primary?.snapshot?.replication;
  if (replication === undefined || !isPrimary(primary?.snapshot)) return undefined;
  return replication.replicas.filter((r) => r.state === "online" && r.lag <= MIN_REPLICAS_MAX_LAG_SECONDS)
    .length;
}

/** The leader's master_replid while its link to the source is up (a replica adopts its primary's ID). */
function sourceReplicationIdOf(
  leader: ObservedPod | undefined,
  previous: string | undefined,
): string | undefined {
  const replication = leader?.snapshot?.replication;
  if (replication?.role !== "slave" || replication.master?.linkStatus !== "up") return previous;
  return replication.masterReplid;
}

export async function observeAndReport(
  ctx: ReplicationContext,
  generation: number | undefined,
): Promise<ClusterReport> {
  const intent = ctx.intent;
  const sourceRef = intent.kind === "standalone" || intent.kind === "sentinel" ? undefined : intent.source;
  const [pods, source] = await Promise.all([
    observePods(ctx),
    sourceRef === undefined || (intent.kind !== "replicate" && intent.kind !== "demote")
      ? Promise.resolve(undefined)
      : observeSource(ctx, sourceRef),
  ]);
  const now = ctx.now();
  const status = ctx.status();
  const report = replicationReport({
    intent,
    pods,
    sourceOffset: source?.offset,
    previous: status.replication,
    promotionPhase: status.promotion?.phase,
    now,
  });
  const leader = pods.find((p) => p.ordinal === LEADER_ORDINAL);
  // The source's own answer explains a down link better than the replica can (it only says "down"), and
  // says why the lag is unknown while the link is up.
  const problem = source?.failure?.message ?? leader?.error;
  const downSeconds = report.replication?.linkDownSeconds;
  const replicas = replicasInSyncCondition(pods, findCondition(status.conditions, "ReplicasInSync"), now);
  const followsSource = sourceRef !== undefined && (intent.kind === "replicate" || intent.kind === "demote");
  const dr = followsSource
    ? drFiguresOf({
        memory: ctx.sourceMemory?.get(),
        source,
        lagBytes: report.replication?.lagBytes,
        thresholdSeconds: ctx.backlogHorizonThresholdSeconds ?? DEFAULT_BACKLOG_HORIZON_THRESHOLD_SECONDS,
        now,
      })
    : undefined;
  if (ctx.sourceMemory !== undefined) ctx.sourceMemory.set(dr?.memory);
  const backlogCondition = backlogConditionOf(ctx, followsSource, dr, status);
  const conditions = [
    replicaModeCondition(intent, status),
    replicationHealthyCondition(intent, {
      status: report.link,
      downSeconds,
      lagBytes: report.replication?.lagBytes,
      problem,
    }),
    ...(replicas === undefined ? [] : [replicas]),
    ...(backlogCondition === undefined ? [] : [backlogCondition]),
  ];
  const transaction: StatusTransaction = (s) => {
    const sentinel = sentinelManaged(intent, ctx.sentinelMode, s.promotion?.phase);
    const currentPrimary = currentPrimaryOf(sentinel, pods, leader, s.currentPrimary);
    let next: RedisClusterStatus = {
      ...s,
      replication:
        report.replication === undefined
          ? undefined
          : {
              ...report.replication,
              sourceReplicationId: sourceReplicationIdOf(leader, s.replication?.sourceReplicationId),
              ...(s.replication?.sourceRunId === undefined ? {} : { sourceRunId: s.replication.sourceRunId }),
            },
      designatedLeader: designatedLeaderName(ctx.cluster),
      currentPrimary,
      syncReplicas: syncReplicasOf(pods.find((p) => p.name === currentPrimary)),
      lastKnownOffsets: recordOffsets(s.lastKnownOffsets, pods, ctx.cluster, ctx.instances, now),
    };
    for (const condition of conditions) {
      next = { ...next, conditions: setCondition(next.conditions, condition, generation, now) };
    }
    return next;
  };
  // The source's offset status reports (the last one seen while the source cannot be asked): the lag series
  // stays, and keeps agreeing with status, through a partition that cuts the controller off the source too.
  const figures = podReplicationFigures(
    pods,
    sourceRef === undefined ? undefined : { host: sourceRef.host, port: sourceRef.port },
    report.replication?.sourceOffset,
  );
  return {
    pods,
    source,
    figures,
    dr: ctx.sourceMemory === undefined ? undefined : dr?.figures,
    conditions,
    transaction,
    leaderWritable: leader?.snapshot === undefined ? undefined : isPrimary(leader.snapshot),
  };
}
