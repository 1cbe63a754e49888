/**
 * The messages and reasons of the cluster's conditions. The ReplicaMode wording is the reference's, exactly.
 */
import type { Condition, RedisClusterStatus } from "../../schemas/generated/rediscluster.ts";
import type { ClusterIntent, SourceRef } from "./intent.ts";
import { endpointText } from "./intent.ts";

export type ConditionInput = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

const replicatingMessage = (source: SourceRef): string =>
  `Cluster is replicating from ${source.clusterName} (${endpointText(source)})`;

export const promotedMessage = (formerSource: string): string =>
  `Cluster promoted to standalone (former source: ${formerSource})`;

export function replicaModeCondition(
  intent: ClusterIntent,
  status: RedisClusterStatus | undefined,
): ConditionInput {
  const promotion = status?.promotion;
  const type = "ReplicaMode";
  switch (intent.kind) {
    case "replicate":
    case "demote":
      if (intent.join !== undefined && status?.switchover?.phase !== "Completed") {
        return {
          type,
          status: "False",
          reason: "HandoffPending",
          message:
            `Cluster is a primary until it hands the primary role over to ${intent.source.clusterName} ` +
            `(${endpointText(intent.source)})`,
        };
      }
      return { type, status: "True", reason: "Enabled", message: replicatingMessage(intent.source) };
    case "promote":
    case "demotion-refused":
      if (promotion?.phase === "Completed") {
        return {
          type,
          status: "False",
          reason: "Promoted",
          message: promotedMessage(promotion.formerSource ?? intent.source.clusterName),
        };
      }
      return {
        type,
        status: "True",
        reason: "Promoting",
        message: `Promotion requested (phase ${promotion?.phase ?? "Pending"}); the cluster was replicating from ${intent.source.clusterName} (${endpointText(intent.source)})`,
      };
    case "standalone":
    case "sentinel":
      if (promotion?.phase === "Completed") {
        return {
          type,
          status: "False",
          reason: "Promoted",
          message: promotedMessage(promotion.formerSource ?? "unknown"),
        };
      }
      return { type, status: "False", reason: "Disabled", message: "Replica mode is not enabled" };
  }
}

export type LinkStatus = "Up" | "Down" | "Syncing" | "Unknown";

export function replicationHealthyCondition(
  intent: ClusterIntent,
  link: {
    status: LinkStatus;
    downSeconds?: number | undefined;
    lagBytes?: number | undefined;
    problem?: string | undefined;
  },
): ConditionInput {
  const type = "ReplicationHealthy";
  if (intent.kind !== "replicate" && intent.kind !== "demote") {
    return {
      type,
      status: "True",
      reason: "NotReplicating",
      message: "The cluster does not replicate from a source",
    };
  }
  const problem = link.problem === undefined ? "" : `: ${link.problem}`;
  switch (link.status) {
    case "Up":
      return {
        type,
        status: "True",
        reason: "LinkUp",
        message:
          link.lagBytes === undefined
            ? `The leader's link to the source is up; the lag is unknown${problem}`
            : `The leader's link to the source is up, ${link.lagBytes} bytes behind the source`,
      };
    case "Syncing":
      return {
        type,
        status: "False",
        reason: "Syncing",
        message: `The leader is running a full synchronisation from the source${problem}`,
      };
    case "Down":
      return {
        type,
        status: "False",
        reason: "LinkDown",
        message: `The leader's link to the source is down${link.downSeconds === undefined ? "" : ` for ${link.downSeconds}s`}${problem}`,
      };
    case "Unknown":
      return {
        type,
        status: "Unknown",
        reason: "LeaderUnreachable",
        message: `The leader could not be asked${problem}`,
      };
  }
}

export function readyCondition(input: {
  instances: number;
  readyInstances: number;
  primaryWritable: boolean | undefined;
  blocker?: string | undefined;
}): ConditionInput {
  const type = "Ready";
  if (input.blocker !== undefined)
    return { type, status: "False", reason: "Blocked", message: input.blocker };
  if (input.readyInstances < input.instances) {
    return {
      type,
      status: "False",
      reason: "PodsNotReady",
      message: `${input.readyInstances}/${input.instances} pods are ready`,
    };
  }
  if (input.primaryWritable === false) {
    return {
      type,
      status: "False",
      reason: "NoPrimary",
      message: "The designated leader does not accept writes yet",
    };
  }
  return {
    type,
    status: "True",
    reason: "Ready",
    message: `${input.readyInstances}/${input.instances} pods are ready`,
  };
}

/**
 * LeaderBlocked: True while the designated leader waits for a pod that cannot be asked or for a human's
 * confirmation before it may become a primary (reviewCatchUp); False once it went on.
 */
export function leaderBlockedCondition(
  reason: "UnobservedPods" | "DonorBehind" | undefined,
  message: string,
): ConditionInput {
  if (reason === undefined) {
    return {
      type: "LeaderBlocked",
      status: "False",
      reason: "Resolved",
      message: "The designated leader no longer waits: every pod answered, or the confirmation was given",
    };
  }
  return { type: "LeaderBlocked", status: "True", reason, message };
}

/**
 * SourceDiscontinuity: True while the pods are held off a source that restarted its history or lost most of
 * its keys (source-continuity.ts), until a human confirms it; False once they follow it again.
 */
export function sourceDiscontinuityCondition(
  reason: "HistoryRestarted" | "KeysCollapsed" | undefined,
  messageOrSourceId: string,
): ConditionInput {
  if (reason === undefined) {
    return {
      type: "SourceDiscontinuity",
      status: "False",
      reason: "Following",
      message: `The pods follow the source again, on its replication history ${messageOrSourceId}`,
    };
  }
  return { type: "SourceDiscontinuity", status: "True", reason, message: messageOrSourceId };
}

/** What Sentinel protection a `mode: sentinel` cluster has now (condition SentinelProtected). */
export type SentinelProtection =
  | { readonly kind: "replica-cluster" }
  | {
      readonly kind: "primary";
      readonly primary: string;
      /** Sentinels that monitor the cluster. */
      readonly monitoring: number;
      readonly instances: number;
      readonly quorum: number;
      /** Replicas that hold the primary's data, which Sentinel may elect. */
      readonly electable: number;
      /** Of those, the ones every monitoring Sentinel knows (it elects only a replica it knows). */
      readonly knownToSentinels: number;
      readonly downAfterSeconds: number;
    };

/**
 * SentinelProtected: True when enough Sentinels monitor the primary to reach their quorum and at least one
 * replica holding its data can be elected and is known to every one of them — a primary that stops answering
 * is then failed over by Sentinel.
 */
export function sentinelProtectedCondition(protection: SentinelProtection): ConditionInput {
  const type = "SentinelProtected";
  if (protection.kind === "replica-cluster") {
    return {
      type,
      status: "False",
      reason: "ReplicaCluster",
      message:
        "The cluster replicates from its source: its Sentinels monitor nothing (they must not elect a primary " +
        "inside a replica cluster); they take over its failover once a promotion completes",
    };
  }
  const { primary, monitoring, instances, quorum, electable } = protection;
  const sentinels = `${monitoring} of ${instances} Sentinels monitor ${primary} (quorum ${quorum})`;
  if (monitoring < quorum) {
    return {
      type,
      status: "False",
      reason: "QuorumNotMonitoring",
      message:
        `Not protected: only ${sentinels}, so a hung primary is not failed over; the controller hands the ` +
        "cluster to each Sentinel as soon as it answers",
    };
  }
  if (electable === 0) {
    return {
      type,
      status: "False",
      reason: "NoElectableReplica",
      message:
        `Not protected: ${sentinels}, but no replica holds ${primary}'s data yet (none has completed its first ` +
        "copy, or there is none): Sentinel elects none, since the pods following an empty replica would copy " +
        "its emptiness",
    };
  }
  const { knownToSentinels: known } = protection;
  if (known === 0) {
    return {
      type,
      status: "False",
      reason: "ReplicasUnknownToSentinels",
      message:
        `Not protected yet: ${sentinels} and ${electable} replica(s) hold its data, but not every Sentinel ` +
        `knows them: Sentinel learns ${primary}'s replicas from its INFO (every 10 s, never while it hangs) and ` +
        "elects only a replica it knows",
    };
  }
  const learning =
    known < electable ? ` (${electable - known} more once every Sentinel has learned them)` : "";
  return {
    type,
    status: "True",
    reason: "Monitored",
    message:
      `${sentinels}; ${known} replica(s) holding its data can be elected${learning}: a primary that does ` +
      `not answer for ${protection.downAfterSeconds} s is failed over`,
  };
}

export const SWITCHOVER_CONDITION = "Switchover";

/** Condition Switchover of the old primary's cluster (joinBy: Handoff), by the step it is at. */
export function switchoverCondition(
  step: "WaitingForTarget" | "HandingOver" | "Completed" | "TimedOut" | "Refused" | "Interrupted",
  message: string,
): ConditionInput {
  return {
    type: SWITCHOVER_CONDITION,
    status: step === "Completed" ? "True" : "False",
    reason: step,
    message,
  };
}
