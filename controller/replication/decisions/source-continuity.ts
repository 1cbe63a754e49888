/**
 * Never follow a source into emptiness. A Redis replica whose primary comes back on another replication
 * history (restarted without its replication state, or replaced by another instance) copies it in full by
 * itself and drops its own dataset: a source restarted empty would empty the DR region too. Before a pod
 * follows the source (and on every pass while it does), its history is compared with the source's:
 * - the source continues the pod's history (its replid, or its replid2 after a failover that kept it —
 *   Sentinel promoting a replica): followed, with a partial resync;
 * - the source's history restarted (neither ID matches) and the pod holds keys: the pod is held with its
 *   data (`HistoryRestarted`);
 * - the source holds less than half the keys of a pod that is not linked to it: held too (`KeysCollapsed`),
 *   since re-linking would replay whatever emptied it.
 * Until a human confirms that the new source is right, with the annotation naming the source's replication
 * ID (ACCEPT_SOURCE_HISTORY_ANNOTATION), like the demotion token names the promoted history.
 */
import type { InstanceSnapshot } from "../../redis/admin-port.ts";
import type { ObservedPod } from "../../model/pods.ts";

export const ACCEPT_SOURCE_HISTORY_ANNOTATION = "redis.io/accept-source-history";

const NO_REPLID = "0000000000000000000000000000000000000000";

export type DiscontinuityReason = "HistoryRestarted" | "KeysCollapsed";

export type SourceVerdict =
  | { readonly kind: "follow" }
  /**
   * The source restarted its history but holds at least as many keys as `pod`: sample `pod`'s keys on the
   * source and judge again — the same dataset (restarted from its AOF or RDB) is followed, another is not.
   */
  | { readonly kind: "sample"; readonly pod: string }
  | {
      readonly kind: "discontinuous";
      readonly reason: DiscontinuityReason;
      /** The pods that must not follow the source. */
      readonly pods: readonly string[];
      /** What happened and the command that resolves it, for the condition, the Event and the log. */
      readonly message: string;
    };

/** Share of a pod's sampled keys the source must hold to be taken for the same dataset (keys expire). */
const SAME_DATASET_SHARE = 0.75;
export const SAMPLE_SIZE = 16;

const linkedTo = (pod: InstanceSnapshot, source: InstanceSnapshot): boolean =>
  pod.replication.master?.linkStatus === "up" &&
  !pod.replication.master.syncInProgress &&
  pod.replication.masterReplid === source.replication.masterReplid;

/**
 * Judges the source against the history the cluster last followed (status.replication.sourceReplicationId,
 * recorded while the leader's link was up), and the pods that follow or would follow it. `accepted` is the
 * annotation's value: the replication ID a human confirmed.
 */
export function judgeSource(input: {
  readonly cluster: string;
  readonly sourceName: string;
  readonly source: InstanceSnapshot;
  /** The source's replication ID as last followed; undefined before the first link. */
  readonly followedId: string | undefined;
  /**
   * The run_id of the source process last judged safe to follow: that process may still change its
   * replication ID (Redis starts a new one when a restarted primary creates its backlog for its first
   * replica), which is no restart.
   */
  readonly followedRunId?: string | undefined;
  readonly pods: readonly ObservedPod[];
  readonly accepted: string | undefined;
  /** Keys sampled on the richest pod, and how many of them the source holds (after a `sample` verdict). */
  readonly sample?: { readonly sampled: number; readonly present: number } | undefined;
}): SourceVerdict {
  const { source, followedId } = input;
  const sourceId = source.replication.masterReplid;
  if (input.accepted !== undefined && input.accepted === sourceId) return { kind: "follow" };
  if (source.runId !== undefined && source.runId === input.followedRunId) return { kind: "follow" };
  if (followedId === undefined || followedId === NO_REPLID) return { kind: "follow" };
  const holding = input.pods.filter(
    (p): p is ObservedPod & { snapshot: InstanceSnapshot } =>
      p.snapshot !== undefined && p.snapshot.keyCount > 0,
  );
  if (holding.length === 0) return { kind: "follow" };
  const richest = holding.reduce((a, b) => (b.snapshot.keyCount > a.snapshot.keyCount ? b : a));
  const restarted = sourceId !== followedId && source.replication.masterReplid2 !== followedId;
  const unlinked = holding.filter((p) => !linkedTo(p.snapshot, source));
  const collapsed = unlinked.some((p) => source.keyCount * 2 < p.snapshot.keyCount);
  if (!restarted && !collapsed) return { kind: "follow" };
  if (restarted && source.keyCount >= richest.snapshot.keyCount) {
    const sample = input.sample;
    if (sample === undefined) return { kind: "sample", pod: richest.name };
    if (sample.sampled > 0 && sample.present >= Math.ceil(sample.sampled * SAME_DATASET_SHARE)) {
      return { kind: "follow" };
    }
  }
  const reason: DiscontinuityReason = restarted ? "HistoryRestarted" : "KeysCollapsed";
  const names = input.pods.map((p) => p.name);
  const what = restarted
    ? `${input.sourceName} is on a new replication history (ID ${sourceId}, offset ` +
      `${source.replication.masterReplOffset}, ${source.keyCount} keys), not the one this cluster followed ` +
      `(ID ${followedId}; ${richest.name} holds ${richest.snapshot.keyCount} keys): it was restarted ` +
      "without its replication state or replaced, and following it would replace this cluster's data with " +
      "what it holds"
    : `${input.sourceName} holds ${source.keyCount} keys, less than half of the ${richest.snapshot.keyCount} ` +
      `${richest.name} holds: re-linking would replay whatever removed them`;
  return {
    kind: "discontinuous",
    reason,
    pods: names,
    message:
      `${what}. The pods are held with their data until ${input.sourceName} is confirmed right: ` +
      `kubectl annotate rediscluster ${input.cluster} ${ACCEPT_SOURCE_HISTORY_ANNOTATION}=${sourceId} --overwrite`,
  };
}
