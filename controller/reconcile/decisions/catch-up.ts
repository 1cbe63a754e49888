/**
 * Before the designated leader becomes a primary, does any pod hold writes it lacks?
 *
 * Offsets of two instances are comparable only when they share a replication history: one's replid is the
 * other's replid or replid2 (Redis keeps the previous history as replid2 after REPLICAOF NO ONE or a switch
 * of primary). A pod restarted from its AOF starts a new history at offset 0 while keeping its keys, so for
 * pods with unrelated histories only "is the leader empty while another pod is not" can be decided.
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

export type CatchUpDecision =
  | { readonly kind: "caught-up" }
  /** `donor` has `bytesAhead` more of the leader's history: a partial resync from it brings them over. */
  | {
      readonly kind: "catch-up";
      readonly donor: ObservedPod;
      readonly bytesAhead: number;
      readonly partial: true;
    }
  /** The leader lost its data (e.g. restarted on an empty volume) and `donor` still has some. */
  | {
      readonly kind: "catch-up";
      readonly donor: ObservedPod;
      readonly bytesAhead: number;
      readonly partial: false;
    };

/**
 * Picks the pod the leader must copy from before it may be a primary, if any: the furthest-ahead pod on the
 * leader's own history, else — only when the leader is empty — the pod with the most keys.
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
      donor: best.donor,
      bytesAhead: best.offset - leader.replication.masterReplOffset,
      partial: true,
    };
  }
  if (leader.keyCount === 0) {
    let richest: ObservedPod | undefined;
    for (const pod of others) {
      if ((pod.snapshot?.keyCount ?? 0) > (richest?.snapshot?.keyCount ?? 0)) richest = pod;
    }
    if (richest?.snapshot !== undefined) {
      return {
        kind: "catch-up",
        donor: richest,
        bytesAhead: richest.snapshot.replication.masterReplOffset,
        partial: false,
      };
    }
  }
  return { kind: "caught-up" };
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
