/**
 * status.replication and the per-pod replication figures (metrics), computed from what the pods and the
 * source said. Pure: the caller observes, this decides what to report.
 */
import type { InstanceSnapshot } from "../../redis/admin-port.ts";
import type { ReplicationStatus } from "../../../schemas/generated/rediscluster.ts";
import type { LinkStatus } from "../../model/conditions.ts";
import type { ClusterIntent } from "../../model/intent.ts";
import { endpointText } from "../../model/intent.ts";
import { lagBytes, linkDownSince, linkStatusOf, secondsSince } from "./link.ts";
import type { ObservedPod, Upstream } from "../../model/pods.ts";
import { LEADER_ORDINAL, followsUpstream, isHeld } from "../../model/pods.ts";
import type { PodReplicationFigures } from "../../model/figures.ts";

export interface ReplicationReport {
  readonly replication: ReplicationStatus | undefined;
  readonly link: LinkStatus;
}

export function replicationReport(input: {
  readonly intent: ClusterIntent;
  readonly pods: readonly ObservedPod[];
  readonly sourceOffset: number | undefined;
  readonly previous: ReplicationStatus | undefined;
  readonly promotionPhase: string | undefined;
  readonly now: Date;
}): ReplicationReport {
  const { intent, previous, now } = input;
  const leader = input.pods.find((p) => p.ordinal === LEADER_ORDINAL);
  if (intent.kind === "promote" || intent.kind === "demotion-refused") {
    // Kept as last seen until the promotion completes (the data-loss window is computed from it), then gone:
    // a promoted cluster replicates from nobody.
    return { replication: input.promotionPhase === "Completed" ? undefined : previous, link: "Unknown" };
  }
  if (intent.kind === "standalone" || intent.kind === "sentinel")
    return { replication: undefined, link: "Unknown" };
  const link = linkStatusOf(leader?.snapshot);
  const since = linkDownSince(link, previous?.linkDownSince, leader?.snapshot, now);
  const leaderOffset = leader?.snapshot?.replication.masterReplOffset ?? previous?.leaderOffset;
  const sourceOffset = sourceOffsetOf(input.sourceOffset, leader?.snapshot, link, previous);
  // When the source last answered: while it cannot be asked, the lag against its last offset is a lower bound.
  const sourceLastSeen = input.sourceOffset !== undefined ? now.toISOString() : previous?.sourceLastSeen;
  const lag = leaderOffset === undefined ? undefined : lagBytes(sourceOffset, leaderOffset);
  const lastSyncTime =
    link === "Up" && previous?.linkStatus !== "Up" ? now.toISOString() : previous?.lastSyncTime;
  const replication: ReplicationStatus = {
    replicatingFrom: intent.source.clusterName,
    sourceEndpoint: endpointText(intent.source),
    linkStatus: link,
    ...(since === undefined ? {} : { linkDownSince: since, linkDownSeconds: secondsSince(since, now) ?? 0 }),
    ...(leaderOffset === undefined ? {} : { leaderOffset }),
    ...(sourceOffset === undefined ? {} : { sourceOffset }),
    ...(sourceLastSeen === undefined ? {} : { sourceLastSeen }),
    ...(lag === undefined ? {} : { lagBytes: lag }),
    ...(lastSyncTime === undefined ? {} : { lastSyncTime }),
  };
  return { replication, link };
}

/**
 * The source's offset to report. As last seen while the source cannot be asked: during a partition it is
 * still the best lower bound of the lag. And an offset below the last one seen belongs to a new history
 * (offsets only grow within one, PSYNC2 failovers included): until the leader follows that history (its
 * replication ID, reported as sourceReplicationId, changes), the last one seen is kept, so the change of ID
 * is judged against the offset of the history it leaves (Event SourceHistoryReset). The controller asks the
 * source directly and sees its new history first; without this, a reconcile between the two sightings
 * recorded the new offset under the old ID, and the reset was reported as a failover.
 */
function sourceOffsetOf(
  observed: number | undefined,
  leader: InstanceSnapshot | undefined,
  link: LinkStatus,
  previous: ReplicationStatus | undefined,
): number | undefined {
  if (observed === undefined) return previous?.sourceOffset;
  const leaderId = link === "Up" ? leader?.replication.masterReplid : undefined;
  const leaderFollowsNewHistory = leaderId !== undefined && leaderId !== previous?.sourceReplicationId;
  const wentBack = previous?.sourceOffset !== undefined && observed < previous.sourceOffset;
  return wentBack && !leaderFollowsNewHistory ? previous.sourceOffset : observed;
}

/**
 * `sourceOffset` is the one status reports (`replication.sourceOffset`: the last seen while the source
 * cannot be asked), so the metrics and status give the same lag.
 */
export function podReplicationFigures(
  pods: readonly ObservedPod[],
  source: Upstream | undefined,
  sourceOffset: number | undefined,
): PodReplicationFigures[] {
  const leader = pods.find((p) => p.ordinal === LEADER_ORDINAL);
  return pods.flatMap((pod): PodReplicationFigures[] => {
    const replication = pod.snapshot?.replication;
    if (replication === undefined) return [{ pod: pod.name, linkUp: 0 }];
    const master = replication.master;
    if (master === undefined) return [{ pod: pod.name }];
    let upstreamOffset: number | undefined;
    // A pod held off the source (it went away, or came back on another history) still lags it.
    if (source !== undefined && (followsUpstream(pod.snapshot, source) || isHeld(pod.snapshot))) {
      upstreamOffset = sourceOffset;
    } else if (leader !== undefined && leader !== pod && followsUpstream(pod.snapshot, leader)) {
      upstreamOffset = leader.snapshot?.replication.masterReplOffset;
    }
    const up = master.linkStatus === "up" && !master.syncInProgress;
    const lag = lagBytes(upstreamOffset, replication.masterReplOffset);
    return [
      {
        pod: pod.name,
        linkUp: up ? 1 : 0,
        linkDownSeconds: up ? 0 : Math.max(0, master.linkDownSinceSeconds),
        ...(lag === undefined ? {} : { lagBytes: lag }),
      },
    ];
  });
}
