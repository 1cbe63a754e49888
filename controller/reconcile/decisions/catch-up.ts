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
import type { ObservedPod } from "./pods.ts";

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
