/**
 * Before the designated leader becomes a primary, does any pod hold writes it lacks?
 *
 * Offsets of two instances are comparable only when they share a replication history: one's replid is the
 * other's replid or replid2 (Redis keeps the previous history as replid2 after REPLICAOF NO ONE or a switch
 * of primary). A pod restarted from its AOF starts a new history at offset 0 while keeping its keys: a leader
 * in that state is compared with the pods that kept the history it was on, not by offset (see decideCatchUp).
 */
import type { InstanceSnapshot } from "../../redis/admin-port.ts";
import type { ReplicationInfo } from "../../redis/info.ts";
import type { ObservedPod } from "../../model/pods.ts";

const NO_REPLID = "0000000000000000000000000000000000000000";

export function sharesHistory(a: InstanceSnapshot, b: InstanceSnapshot): boolean {
  const idsA = [a.replication.masterReplid, a.replication.masterReplid2].filter(
    (id) => id !== NO_REPLID && id !== "",
  );
  const idsB = new Set(
    [b.replication.masterReplid, b.replication.masterReplid2].filter((id) => id !== NO_REPLID && id !== ""),
  );
  return idsA.some((id) => idsB.has(id));
}

/**
 * Why the leader must copy from another pod before it may be a primary:
 * - `behind`: the donor is `bytesAhead` further on the leader's own history; a partial resync brings the
 *   difference over.
 * - `own-history`: the leader restarted (or lost its data) since it last replicated, so its history is its
 *   own, while the donor kept the history the leader used to be on (the source's, or the cluster's primary's)
 *   and is the furthest ahead on it. Offsets cannot be compared across histories, but the leader's data is
 *   what it had on that history before it stopped — a prefix of the donor's in the normal case — so a full
 *   copy from the donor replaces it with a superset.
 * - `empty`: the leader has no keys and no pod kept a history to copy from; the pod with the most keys.
 * For `behind` and `own-history` the other pods follow the donor too: they then share the history the leader
 * continues, and re-attach to it with partial resyncs once it is promoted.
 */
export type CatchUpDecision =
  | { readonly kind: "caught-up" }
  | {
      readonly kind: "catch-up";
      readonly reason: "behind";
      readonly donor: ObservedPod;
      readonly bytesAhead: number;
    }
  | { readonly kind: "catch-up"; readonly reason: "own-history" | "empty"; readonly donor: ObservedPod };

export type CatchUp = Exclude<CatchUpDecision, { readonly kind: "caught-up" }>;

/** A restarted pod starts a new history at offset 0; one that replicated or served since has an offset. */
const keptHistory = (snapshot: InstanceSnapshot | undefined): snapshot is InstanceSnapshot =>
  snapshot !== undefined && snapshot.replication.masterReplOffset > 0;

/**
 * The leader's history is its own: no pod shares it, and it has not replicated since it restarted (offset 0)
 * or it holds nothing.
 */
function hasOwnHistory(leader: InstanceSnapshot, others: readonly ObservedPod[]): boolean {
  if (others.some((p) => p.snapshot !== undefined && sharesHistory(leader, p.snapshot))) return false;
  return leader.replication.masterReplOffset === 0 || leader.keyCount === 0;
}

/**
 * The furthest-ahead pod on the history the other pods kept. Pods on unrelated histories cannot be compared:
 * the history most of them share is taken as the cluster's; among equals, the pod furthest ahead, then the
 * lowest ordinal.
 */
function furthestOnKeptHistory(others: readonly ObservedPod[]): ObservedPod | undefined {
  const kept = others.flatMap((pod) => (keptHistory(pod.snapshot) ? [{ pod, snapshot: pod.snapshot }] : []));
  let best: { pod: ObservedPod; sharing: number; offset: number } | undefined;
  for (const { pod, snapshot } of kept) {
    const sharing = kept.filter((o) => sharesHistory(snapshot, o.snapshot)).length;
    const offset = snapshot.replication.masterReplOffset;
    if (best === undefined || sharing > best.sharing || (sharing === best.sharing && offset > best.offset)) {
      best = { pod, sharing, offset };
    }
  }
  return best?.pod;
}

/**
 * Picks the pod the leader must copy from before it may be a primary, if any (see CatchUpDecision). A leader
 * that kept its history and is not behind on it stays as it is, whatever pods on other histories hold (they
 * restarted, and their offsets say nothing). When no other pod kept a history (all restarted, or only the
 * leader answers) nothing can be compared: the leader keeps its data unless it is empty.
 * Pods that could not be observed are not considered.
 */
export function decideCatchUp(leader: InstanceSnapshot, others: readonly ObservedPod[]): CatchUpDecision {
  let best: { donor: ObservedPod; offset: number } | undefined;
  for (const pod of others) {
    if (pod.snapshot === undefined || !sharesHistory(leader, pod.snapshot)) continue;
    const offset = pod.snapshot.replication.masterReplOffset;
    if (offset > leader.replication.masterReplOffset && (best === undefined || offset > best.offset)) {
      best = { donor: pod, offset };
    }
  }
  if (best !== undefined) {
    return {
      kind: "catch-up",
      reason: "behind",
      donor: best.donor,
      bytesAhead: best.offset - leader.replication.masterReplOffset,
    };
  }
  if (hasOwnHistory(leader, others)) {
    const donor = furthestOnKeptHistory(others);
    if (donor !== undefined) return { kind: "catch-up", reason: "own-history", donor };
  }
  if (leader.keyCount === 0) {
    let richest: ObservedPod | undefined;
    for (const pod of others) {
      if ((pod.snapshot?.keyCount ?? 0) > (richest?.snapshot?.keyCount ?? 0)) richest = pod;
    }
    if (richest?.snapshot !== undefined) return { kind: "catch-up", reason: "empty", donor: richest };
  }
  return { kind: "caught-up" };
}

/** The other pods follow the donor too (see CatchUpDecision). */
export const othersFollowDonor = (decision: CatchUp): boolean => decision.reason !== "empty";

/**
 * Why the leader copies from the donor, for Events and status messages: "<donor> is N bytes ahead",
 * "the leader is empty", or what each pod holds when the leader restarted onto a history of its own.
 */
export function catchUpReason(leaderName: string, leader: InstanceSnapshot, decision: CatchUp): string {
  const donor = decision.donor;
  switch (decision.reason) {
    case "behind":
      return `${decision.bytesAhead} bytes ahead`;
    case "empty":
      return "the leader is empty";
    case "own-history":
      if (leader.keyCount === 0) return "the leader is empty";
      return (
        `${leaderName} restarted onto a replication history of its own, at offset ` +
        `${leader.replication.masterReplOffset} with ${leader.keyCount} keys, while ${donor.name} kept the ` +
        `history ${leaderName} was on and is the furthest ahead on it, at offset ` +
        `${donor.snapshot?.replication.masterReplOffset ?? 0} with ${donor.snapshot?.keyCount ?? 0} keys: a ` +
        `full copy of ${donor.name} replaces ${leaderName}'s data`
      );
  }
}

/** The leader, replicating from the donor, has processed everything the donor had when it was asked. */
export function isCaughtUp(leader: ReplicationInfo, donorOffset: number): boolean {
  const master = leader.master;
  return (
    master !== undefined &&
    master.linkStatus === "up" &&
    !master.syncInProgress &&
    leader.masterReplOffset >= donorOffset
  );
}

/**
 * The offset at which an instance became a primary: Redis records the start of the new history as
 * second_repl_offset (= offset + 1) when REPLICAOF NO ONE shifts the replication ID.
 */
export function promotedOffsetOf(snapshot: InstanceSnapshot): number {
  const second = snapshot.replication.secondReplOffset;
  return second > 0 ? second - 1 : snapshot.replication.masterReplOffset;
}

/** A pod's history and offset as status last recorded them (status.lastKnownOffsets). */
export interface KnownOffset {
  readonly pod: string;
  readonly replicationId: string;
  readonly offset: number;
  readonly keys?: number | undefined;
}

/** What a human may confirm about the leader (annotation `redis.io/confirm-leader: <action>:<run_id>`). */
export type LeaderAction = "promote" | "keep" | "copy";
export const CONFIRM_LEADER_ANNOTATION = "redis.io/confirm-leader";

const confirmationToken = (action: LeaderAction, leader: InstanceSnapshot): string =>
  `${action}:${leader.runId ?? "unknown"}`;

const confirmCommand = (cluster: string, token: string): string =>
  `kubectl annotate rediscluster ${cluster} ${CONFIRM_LEADER_ANNOTATION}=${token} --overwrite`;

export interface CatchUpReviewInput {
  /** The cluster's name (the pods are `<cluster>-<ordinal>`). */
  readonly cluster: string;
  /** spec.instances: every ordinal below it is a pod that may hold data. */
  readonly instances: number;
  readonly lastKnown: readonly KnownOffset[] | undefined;
  /** The value of the redis.io/confirm-leader annotation, if any. */
  readonly confirmation: string | undefined;
}

export type CatchUpReview =
  | { readonly kind: "proceed"; readonly decision: CatchUpDecision }
  | {
      readonly kind: "blocked";
      readonly reason: "UnobservedPods" | "DonorBehind";
      /** What waits, why, and the commands that resolve it: for status, the Event and the log. */
      readonly message: string;
    };

/**
 * The guard a catch-up decision passes before the leader acts on it: decideCatchUp sees only the pods that
 * answer, and knows nothing of what the leader held before it restarted.
 * - `UnobservedPods`: the leader is empty or restarted onto a history of its own while a pod of
 *   spec.instances cannot be asked (loading, hung, partitioned, not scheduled): that pod may hold what the
 *   others lack, and would copy the leader's dataset, whatever it is, once the leader is a primary. Applies
 *   once the cluster has held data (a recorded offset above 0): a new cluster's pods are all empty.
 * - `DonorBehind`: the leader restarted onto a history of its own (from its AOF) and the pod it would copy is
 *   behind the offset the leader last reached on their common history: the copy would discard writes the
 *   leader acknowledged, which may still be in its own dataset.
 * A confirmation (CONFIRM_LEADER_ANNOTATION) naming the leader's run_id lets a human decide: `promote` (go on
 * with the pods that answer), `copy` (copy the donor anyway) or `keep` (the leader keeps its own data and
 * the others copy it).
 */
export function reviewCatchUp(
  leaderName: string,
  leader: InstanceSnapshot,
  others: readonly ObservedPod[],
  decision: CatchUpDecision,
  input: CatchUpReviewInput,
): CatchUpReview {
  const confirmed = (action: LeaderAction) => input.confirmation === confirmationToken(action, leader);
  const observed = new Set(others.flatMap((p) => (p.snapshot === undefined ? [] : [p.name])));
  const unobserved: string[] = [];
  for (let ordinal = 0; ordinal < input.instances; ordinal++) {
    const name = `${input.cluster}-${ordinal}`;
    if (name !== leaderName && !observed.has(name)) unobserved.push(name);
  }
  const suspect = leader.keyCount === 0 || hasOwnHistory(leader, others);
  // A source's offset stays 0 until it has a replica: its first copy arrives at offset 0, keys and all.
  const heldData = (input.lastKnown ?? []).some((k) => k.offset > 0 || (k.keys ?? 0) > 0);
  if (suspect && heldData && unobserved.length > 0 && !confirmed("promote")) {
    const state =
      leader.keyCount === 0
        ? `${leaderName} is empty`
        : `${leaderName} restarted onto a replication history of its own (offset ` +
          `${leader.replication.masterReplOffset}, ${leader.keyCount} keys)`;
    const token = confirmationToken("promote", leader);
    return {
      kind: "blocked",
      reason: "UnobservedPods",
      message:
        `${state} and ${unobserved.join(", ")} cannot be asked: ${leaderName} does not become a primary ` +
        `until every pod has been seen, since ${unobserved.length === 1 ? "that pod" : "those pods"} may ` +
        `hold data the others lack and would copy ${leaderName}'s dataset. To go on with the pods that ` +
        `answer, discarding whatever the others hold: ${confirmCommand(input.cluster, token)}`,
    };
  }
  if (decision.kind !== "catch-up" || decision.reason !== "own-history" || leader.keyCount === 0) {
    return { kind: "proceed", decision };
  }
  const known = input.lastKnown?.find((k) => k.pod === leaderName);
  const donor = decision.donor.snapshot;
  if (known === undefined || donor === undefined) return { kind: "proceed", decision };
  const onKnownHistory =
    donor.replication.masterReplid === known.replicationId ||
    donor.replication.masterReplid2 === known.replicationId;
  const donorOffset = donor.replication.masterReplOffset;
  if (!onKnownHistory || donorOffset >= known.offset) return { kind: "proceed", decision };
  if (confirmed("copy")) return { kind: "proceed", decision };
  if (confirmed("keep")) return { kind: "proceed", decision: { kind: "caught-up" } };
  const donorName = decision.donor.name;
  return {
    kind: "blocked",
    reason: "DonorBehind",
    message:
      `${leaderName} restarted onto a replication history of its own with ${leader.keyCount} keys; the ` +
      `furthest pod on the history it was on, ${donorName}, is at offset ${donorOffset}, ` +
      `${known.offset - donorOffset} bytes behind the offset ${known.offset} ${leaderName} last reached: ` +
      `copying ${donorName} would discard writes ${leaderName} acknowledged, which its own dataset may ` +
      `still hold. To keep ${leaderName}'s data (the other pods then copy it in full): ` +
      `${confirmCommand(input.cluster, confirmationToken("keep", leader))}; to copy ${donorName} anyway: ` +
      confirmCommand(input.cluster, confirmationToken("copy", leader)),
  };
}

/** status.lastKnownOffsets entries, as the schema has them. */
export interface RecordedOffset extends KnownOffset {
  readonly observedAt?: string | undefined;
}

/**
 * The next status.lastKnownOffsets: each pod that answered, as it is now — unless it answered from a
 * history of its own that it has not established (a restart: held, offset back to 0, no primary and no
 * link), which would erase the offset it last reached. That one is replaced only once the pod continues the
 * recorded history, is a primary, or is linked to one (it then shares its primary's history). Pods that did
 * not answer keep their entry; pods beyond spec.instances are dropped.
 */
export function recordOffsets(
  previous: readonly RecordedOffset[] | undefined,
  pods: readonly ObservedPod[],
  cluster: string,
  instances: number,
  now: Date,
): RecordedOffset[] {
  const byPod = new Map((previous ?? []).map((entry) => [entry.pod, entry]));
  for (const pod of pods) {
    const snapshot = pod.snapshot;
    if (snapshot === undefined) continue;
    const old = byPod.get(pod.name);
    const replication = snapshot.replication;
    const established =
      replication.role === "master" ||
      (replication.master?.linkStatus === "up" && !replication.master.syncInProgress);
    const continues =
      old !== undefined &&
      (replication.masterReplid === old.replicationId || replication.masterReplid2 === old.replicationId);
    if (old !== undefined && !continues && !established && replication.masterReplOffset < old.offset)
      continue;
    const unchanged =
      old?.replicationId === replication.masterReplid &&
      old.offset === replication.masterReplOffset &&
      old.keys === snapshot.keyCount;
    // Kept as it is when nothing moved: a steady cluster writes no status.
    if (unchanged) continue;
    byPod.set(pod.name, {
      pod: pod.name,
      replicationId: replication.masterReplid,
      offset: replication.masterReplOffset,
      keys: snapshot.keyCount,
      observedAt: now.toISOString(),
    });
  }
  const names = new Set(Array.from({ length: instances }, (_, ordinal) => `${cluster}-${ordinal}`));
  return [...byPod.values()]
    .filter((entry) => names.has(entry.pod))
    .sort((a, b) => a.pod.localeCompare(b.pod));
}
