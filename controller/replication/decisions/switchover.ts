/**
 * Pure decisions of the planned switchover (docs/switchover.md): may the old primary start `FAILOVER TO`,
 * what did it end in, and does a DR leader that became a primary owe that to a hand-off from its source.
 */
import type { ConnectedReplica, ReplicationInfo } from "../../redis/info.ts";

/** The hand-off target as the old primary's INFO replication lists it (and dials it afterwards). */
export interface HandoffTarget {
  readonly host: string;
  readonly port: number;
}

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

const named = (target: HandoffTarget) => `${target.host}:${target.port}`;

/** The replica the primary lists under exactly that address (FAILOVER TO compares host case-insensitively). */
export function listedTarget(info: ReplicationInfo, target: HandoffTarget): ConnectedReplica | undefined {
  return info.replicas.find(
    (replica) => replica.ip.toLowerCase() === target.host.toLowerCase() && replica.port === target.port,
  );
}

/** Whether `FAILOVER TO target` can start on this instance now; when not, why, naming what is listed. */
export function handoffReadiness(
  info: ReplicationInfo,
  failoverState: string,
  target: HandoffTarget,
): Readiness {
  if (info.role !== "master") {
    const upstream = info.master === undefined ? "" : ` of ${info.master.host}:${info.master.port}`;
    return { ready: false, reason: `the old primary is a replica${upstream}, not a primary` };
  }
  if (failoverState !== "no-failover") {
    return { ready: false, reason: `a failover is already in progress (${failoverState})` };
  }
  const replica = listedTarget(info, target);
  if (replica === undefined) {
    const listed = info.replicas.map((r) => `${r.ip}:${r.port}`).join(", ") || "none";
    return {
      ready: false,
      reason:
        `${named(target)} is not listed as a replica of the old primary (listed: ${listed}); ` +
        "the target must announce that address (replica-announce-ip/-port) and reconnect",
    };
  }
  if (replica.state !== "online") {
    return { ready: false, reason: `${named(target)} is listed but ${replica.state}, not online` };
  }
  return { ready: true };
}

export type HandoffResult =
  | {
      readonly kind: "handed-over";
      /** The new primary's history and the old primary's offset on it once re-attached. */
      readonly replicationId: string;
      readonly offset: number;
    }
  | { readonly kind: "aborted"; readonly reason: string }
  /** The old primary gave the hand-off up after the target promoted itself: two primaries, repair needed. */
  | { readonly kind: "split"; readonly replicationId: string };

/**
 * What a finished FAILOVER ended in, from the old primary before and after and, when it can be asked, the
 * target after. The old primary re-attached to the target adopted the target's new replid.
 */
export function handoffResult(
  before: ReplicationInfo,
  after: ReplicationInfo,
  target: HandoffTarget,
  targetAfter: ReplicationInfo | undefined,
  timeoutMs: number,
  /** The old primary got as far as dialling the target (seen `failover-in-progress`, or its replicas re-attached). */
  reachedHandoff = false,
): HandoffResult {
  if (
    after.role === "slave" &&
    after.master !== undefined &&
    after.master.host.toLowerCase() === target.host.toLowerCase() &&
    after.master.port === target.port
  ) {
    return { kind: "handed-over", replicationId: after.masterReplid, offset: after.masterReplOffset };
  }
  if (
    targetAfter?.role === "master" &&
    targetAfter.masterReplid2 === before.masterReplid &&
    after.role === "master"
  ) {
    return { kind: "split", replicationId: targetAfter.masterReplid };
  }
  if (after.role !== "master") {
    const upstream = after.master === undefined ? "?" : `${after.master.host}:${after.master.port}`;
    return { kind: "aborted", reason: `the old primary follows ${upstream}, not ${named(target)}` };
  }
  const acked = listedTarget(after, target)?.offset;
  const ackedText = acked === undefined ? "it is no longer listed" : `it acknowledged ${acked}`;
  // The old primary disconnects its replicas when it turns to the target, so after a failed hand-off the
  // listing restarts from 0: only `reachedHandoff` tells that case from a target that never caught up.
  const caughtUp = reachedHandoff || (acked !== undefined && acked >= after.masterReplOffset);
  return {
    kind: "aborted",
    reason: caughtUp
      ? `${named(target)} caught up but did not take the primary role: PSYNC FAILOVER refused or lost ` +
        "(can the old primary reach it at that address and log in with its masteruser/masterauth?)"
      : `${named(target)} did not reach offset ${after.masterReplOffset} within ${timeoutMs} ms (${ackedText})`,
  };
}

/**
 * A DR leader that is a primary owes it to a hand-off from its source (not to a crash or to a REPLICAOF NO
 * ONE of its own) when its previous history is the source's, as last seen (status sourceReplicationId).
 */
export function becamePrimaryByHandoff(leader: ReplicationInfo, sourceReplicationId: string): boolean {
  return (
    leader.role === "master" && sourceReplicationId !== "" && leader.masterReplid2 === sourceReplicationId
  );
}

/**
 * How long to wait before pausing writes so that the pause starts `marginMs` before the target's next
 * acknowledgement. A replica sends REPLCONF ACK once a second (its replicationCron) and the primary does not
 * ask for one while writes are paused, so FAILOVER waits for that periodic ACK: started at a random moment,
 * the pause lasts 0–1 s; started just before the ACK is due, about `marginMs`.
 */
export function pauseStartDelay(lastAckAt: number, now: number, marginMs: number, periodMs = 1000): number {
  let next = lastAckAt + periodMs;
  while (next - marginMs < now) next += periodMs;
  return next - marginMs - now;
}

/** What the old primary's controller records of a hand-off (status.switchover), as far as the decision needs. */
export interface RecordedSwitchover {
  readonly phase?: string | undefined;
  readonly attempt?: number | undefined;
}

export type JoinStep =
  /** The leader follows the source already (handed over, or an ordinary replica): replica mode as usual. */
  | { readonly kind: "follow" }
  /** This attempt is over (failed, or interrupted by a restart): stay the primary until the attempt changes. */
  | { readonly kind: "done"; readonly interrupted: boolean }
  /** The target is not listed at its address, or not online: stay the primary, writes flow, say why. */
  | { readonly kind: "wait"; readonly reason: string }
  /** Hand over now (once for this attempt). */
  | { readonly kind: "hand-over" };

/**
 * The old primary's next step under `joinBy: Handoff` (docs/switchover.md §2, step 2), from its leader's INFO
 * replication and what status recorded for this attempt. A leader that is not a primary and does not follow
 * the target (parked after a restart) is restored as the primary first, never pointed at the source: that
 * would be a full copy discarding what the source lacks.
 */
export function decideJoin(
  leader: ReplicationInfo,
  failoverState: string,
  target: HandoffTarget,
  attempt: number,
  recorded: RecordedSwitchover | undefined,
  /**
   * The leader is a replica of its own cluster: parked after a restart, or catching up from a pod before it
   * is made the primary again. Such a leader is restored as the primary, never pointed at the source.
   */
  followsOwnCluster = false,
): JoinStep {
  const master = leader.master;
  if (
    leader.role === "slave" &&
    master !== undefined &&
    master.host.toLowerCase() === target.host.toLowerCase() &&
    master.port === target.port
  ) {
    return { kind: "follow" };
  }
  // A replica of some other primary is no primary to hand over: it joins the source the ordinary way.
  if (leader.role === "slave" && !followsOwnCluster) return { kind: "follow" };
  if (recorded?.attempt === attempt) {
    if (recorded.phase === "Failed") return { kind: "done", interrupted: false };
    if (recorded.phase === "HandingOver") return { kind: "done", interrupted: true };
  }
  const readiness = handoffReadiness(leader, failoverState, target);
  return readiness.ready ? { kind: "hand-over" } : { kind: "wait", reason: readiness.reason };
}
