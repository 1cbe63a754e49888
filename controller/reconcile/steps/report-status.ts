/**
 * Observes the pods and the source once more after acting, and writes what it sees: status.replication,
 * the ReplicaMode / ReplicationHealthy / Ready conditions, instances, currentPrimary, observedGeneration;
 * the per-pod metrics; and Events when the link changes state.
 */
import type { V1Pod } from "@kubernetes/client-node";
import { observeAndReport } from "../../replication/report.ts";
import { findCondition, setCondition } from "../../status/conditions.ts";
import { compose } from "../../status/transaction.ts";
import type { ReconcileContext, Step, StepResult } from "../context.ts";
import { CONTINUE } from "../context.ts";
import { readyCondition } from "../../model/conditions.ts";
import { BACKLOG_HORIZON_CONDITION, backlogTooSmallEventDue } from "../../replication/decisions/rpo.ts";
import { replicationContext } from "./replicate.ts";

const isPodReady = (pod: V1Pod): boolean =>
  pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

export const reportStatus: Step = {
  name: "report-status",
  async run(ctx: ReconcileContext): Promise<StepResult> {
    const generation = ctx.cluster.metadata?.generation;
    const before = ctx.status();
    const report = await observeAndReport(replicationContext(ctx), generation);
    const instances = ctx.cluster.spec.instances ?? 1;
    const pods = ctx.pods.filter((p) => p.metadata?.deletionTimestamp === undefined);
    const readyInstances = pods.filter(isPodReady).length;
    const intent = ctx.intent;
    const promoted = intent?.kind === "standalone" || ctx.status().promotion?.phase === "Completed";
    const ready = readyCondition({
      instances,
      readyInstances,
      primaryWritable: promoted ? report.leaderWritable : undefined,
      blocker: ctx.clusterAuthMissing,
    });
    const now = ctx.deps.now();
    await ctx.commit(
      compose(report.transaction, (s) => ({
        ...s,
        instances: pods.length,
        readyInstances,
        observedGeneration: generation,
        conditions: setCondition(s.conditions, ready, generation, now),
      })),
    );
    ctx.deps.metrics.setPodFigures(ctx.namespace, ctx.name, report.figures);
    ctx.deps.metrics.setPromotionPhase(ctx.namespace, ctx.name, ctx.status().promotion?.phase);
    ctx.deps.metrics.setDrFigures(ctx.namespace, ctx.name, report.dr);
    ctx.deps.metrics.setPromotionDataLoss(
      ctx.namespace,
      ctx.name,
      ctx.status().promotion?.lagAtPromotionBytes,
    );
    const backlog = findCondition(ctx.status().conditions, BACKLOG_HORIZON_CONDITION);
    if (backlogTooSmallEventDue(findCondition(before.conditions, BACKLOG_HORIZON_CONDITION), backlog)) {
      await ctx.event("Warning", "BacklogTooSmall", backlog?.message ?? "");
    }
    const sourceIdBefore = before.replication?.sourceReplicationId;
    const sourceIdNow = ctx.status().replication?.sourceReplicationId;
    if (sourceIdBefore !== undefined && sourceIdNow !== undefined && sourceIdBefore !== sourceIdNow) {
      const from = ctx.status().replication?.replicatingFrom ?? "the source";
      const offsetBefore = before.replication?.sourceOffset;
      const offsetNow = ctx.status().replication?.sourceOffset;
      // A failover keeps the offsets growing (PSYNC2); an offset that went backwards is a new history: the
      // source restarted without its replication state or was replaced, and Redis replicas copy it in full
      // by themselves — possibly an empty dataset. Said loudly, since data may be gone on both sides.
      // Or the leader's keys collapsed with the switch: the pods copied a source that lost its data while
      // nothing held them (the controller was down when the source restarted).
      const leaderName = `${ctx.name}-0`;
      const keysBefore = before.lastKnownOffsets?.find((k) => k.pod === leaderName)?.keys ?? 0;
      const keysNow = ctx.status().lastKnownOffsets?.find((k) => k.pod === leaderName)?.keys ?? keysBefore;
      const collapsed = keysBefore > 0 && keysNow * 2 < keysBefore;
      if ((offsetBefore !== undefined && offsetNow !== undefined && offsetNow < offsetBefore) || collapsed) {
        await ctx.event(
          "Warning",
          "SourceHistoryReset",
          `${from} restarted its replication history (its offset went from ${offsetBefore} to ${offsetNow}, ` +
            `replication ID ${sourceIdBefore} → ${sourceIdNow}; ${leaderName} held ${keysBefore} keys and now ` +
            `holds ${keysNow}): it was restarted without its data or replaced. ` +
            `${ctx.name}'s pods re-synchronised from it in full and now hold only what it holds; if it came back ` +
            "empty, so are they — check the source before relying on this cluster",
        );
      } else {
        await ctx.event(
          "Normal",
          "SourceResynchronised",
          `${ctx.name}-0 resynchronised from ${from}: the source's primary changed (replication ID ` +
            `${sourceIdBefore} → ${sourceIdNow}), e.g. a failover behind its leader Service`,
        );
      }
    }
    const replicas = findCondition(ctx.status().conditions, "ReplicasInSync");
    if (
      replicas?.reason === "NotInSync" &&
      findCondition(before.conditions, "ReplicasInSync")?.reason !== "NotInSync"
    ) {
      await ctx.event("Warning", "ReplicaNotInSync", replicas.message);
    }
    await linkEvents(
      ctx,
      before.replication?.linkStatus,
      ctx.status().replication?.linkStatus,
      report.conditions,
    );
    return CONTINUE;
  },
};

async function linkEvents(
  ctx: ReconcileContext,
  before: string | undefined,
  after: string | undefined,
  conditions: readonly { type: string; message: string }[],
): Promise<void> {
  if (before === after || after === undefined || after === "Unknown") return;
  const health = conditions.find((c) => c.type === "ReplicationHealthy")?.message ?? "";
  const from = ctx.status().replication?.replicatingFrom ?? "the source";
  switch (after) {
    case "Down":
      return ctx.event("Warning", "LinkDown", health);
    case "Syncing":
      return ctx.event("Normal", "SyncStarted", `${ctx.name}-0 started a full synchronisation from ${from}`);
    case "Up":
      return before === "Syncing"
        ? ctx.event("Normal", "SyncFinished", `${ctx.name}-0 finished its full synchronisation from ${from}`)
        : ctx.event("Normal", "LinkUp", `${ctx.name}-0's link to ${from} is up`);
  }
}
