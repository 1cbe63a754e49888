/**
 * Are the replicas copies of their primary? ReplicationHealthy speaks for the leader's link only, and a
 * replica whose copy keeps failing (its disk is full, its RDB cannot load) still answers the readiness probe:
 * without this, status said Ready 3/3 while one pod held nothing. A replica is out of sync when it is not
 * linked to its upstream (link down, or a full sync running) and either holds less than half the keys of
 * the leader or has been cut off for SYNC_GRACE_SECONDS. Pods held by the controller (parked while it decides)
 * and pods that cannot be asked are left to the other conditions.
 */
import type { Condition } from "../../../schemas/generated/rediscluster.ts";
import type { ConditionInput } from "../../model/conditions.ts";
import type { ObservedPod } from "../../model/pods.ts";
import { LEADER_ORDINAL, isHeld, isPrimary } from "../../model/pods.ts";

/** How long a replica may be out of sync (a first copy, a reconnect) before it is reported as stuck. */
const SYNC_GRACE_SECONDS = 30;

function outOfSync(pod: ObservedPod, leaderKeys: number): string | undefined {
  const snapshot = pod.snapshot;
  const master = snapshot?.replication.master;
  if (snapshot === undefined || master === undefined || isPrimary(snapshot) || isHeld(snapshot)) {
    return undefined;
  }
  if (master.linkStatus === "up" && !master.syncInProgress) return undefined;
  if (snapshot.keyCount * 2 < leaderKeys) {
    return (
      `${pod.name} has not completed a copy of ${master.host}:${master.port} ` +
      `(${snapshot.keyCount} keys, the leader holds ${leaderKeys}${master.syncInProgress ? "; a full sync is running" : ""})`
    );
  }
  if (master.linkDownSinceSeconds >= SYNC_GRACE_SECONDS) {
    return `${pod.name}'s link to ${master.host}:${master.port} is down for ${master.linkDownSinceSeconds}s`;
  }
  return undefined;
}

/**
 * Condition ReplicasInSync, or undefined while it was never False (a cluster whose replicas always kept up
 * carries no such condition). False with reason `Syncing` for the first SYNC_GRACE_SECONDS, then `NotInSync`
 * (the moment a Warning Event goes out).
 */
export function replicasInSyncCondition(
  pods: readonly ObservedPod[],
  previous: Condition | undefined,
  now: Date,
): ConditionInput | undefined {
  const leader = pods.find((p) => p.ordinal === LEADER_ORDINAL);
  const leaderKeys = leader?.snapshot?.keyCount ?? 0;
  const problems = pods.flatMap((pod) => {
    if (pod === leader) return [];
    const problem = outOfSync(pod, leaderKeys);
    return problem === undefined ? [] : [problem];
  });
  if (problems.length === 0) {
    if (previous === undefined) return undefined;
    return {
      type: "ReplicasInSync",
      status: "True",
      reason: "InSync",
      message: "Every replica that answers is linked to its primary",
    };
  }
  const since =
    previous?.status === "False" ? (now.getTime() - Date.parse(previous.lastTransitionTime)) / 1000 : 0;
  return {
    type: "ReplicasInSync",
    status: "False",
    reason: since >= SYNC_GRACE_SECONDS ? "NotInSync" : "Syncing",
    message: problems.join("; "),
  };
}
