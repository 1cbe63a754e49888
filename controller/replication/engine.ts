/**
 * The replication engine's entry point: one pass that moves the pods towards what the intent says.
 */
import { promotedMessage } from "../reconcile/decisions/conditions.ts";
import type { ReplicationContext } from "./context.ts";
import { runDemotion } from "./demotion.ts";
import type { EngineResult } from "./promotion.ts";
import { maintainPromoted, runPromotion } from "./promotion.ts";
import { runReplicaMode } from "./replica-mode.ts";
import { runSentinelMode } from "./sentinel.ts";

export type { EngineResult } from "./promotion.ts";

export async function reconcileReplication(ctx: ReplicationContext): Promise<EngineResult> {
  const intent = ctx.intent;
  if ((intent.kind === "replicate" || intent.kind === "demote") && ctx.sourceAuthUnavailable === true) {
    return { requeueAfterMs: 10_000 };
  }
  switch (intent.kind) {
    case "replicate":
      return runReplicaMode(ctx, intent.source, intent.topology);
    case "promote":
      return runPromotion(ctx, intent.source);
    case "demote":
      return runDemotion(ctx, intent.source, intent.topology, intent.replicationId);
    case "demotion-refused": {
      const message =
        `${promotedMessage(ctx.status().promotion?.formerSource ?? intent.source.clusterName)}. Replication from ` +
        `${intent.source.clusterName} is requested again, but without spec.replicaMode.demotionToken set to ` +
        `"${intent.replicationId}": the promoted cluster is kept`;
      if (ctx.status().promotion?.message !== message) {
        await ctx.commit((s) => ({ ...s, promotion: { ...s.promotion, message } }));
        await ctx.event("Warning", "DemotionRefused", message);
      }
      return ctx.status().promotion?.phase === "Completed"
        ? maintainPromoted(ctx)
        : runPromotion(ctx, intent.source);
    }
    case "standalone":
      return maintainPromoted(ctx);
    case "sentinel":
      return runSentinelMode(ctx);
  }
}
