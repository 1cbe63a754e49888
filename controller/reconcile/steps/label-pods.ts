/**
 * Lists the cluster's pods (list-pods, early) and gives each its `redis.io/role` label (label-pods, after the
 * replication step): `primary` for the designated leader (ordinal 0, even while it replicates from the
 * source), `replica` for the others — in Sentinel mode, `primary` for whichever pod Sentinel made the primary.
 * The `<name>-leader` Service selects on it.
 */
import { ROLE_LABEL } from "../../kube/resources.ts";
import type { ReconcileContext, Step, StepResult } from "../context.ts";
import { CONTINUE } from "../context.ts";
import type { RoleLabel } from "../../model/pods.ts";
import { sentinelManaged } from "../../model/intent.ts";
import { ordinalOf, roleLabelFor } from "../../model/pods.ts";

export const listPods: Step = {
  name: "list-pods",
  async run(ctx: ReconcileContext): Promise<StepResult> {
    ctx.pods = await ctx.deps.api.listPods(ctx.namespace, ctx.name);
    return CONTINUE;
  },
};

/** The role label a pod should carry; undefined when it cannot be said yet (Sentinel mode, primary unknown). */
function desiredRole(
  sentinel: boolean,
  ordinal: number,
  pod: string,
  primaryPod: string | undefined,
): RoleLabel | undefined {
  if (!sentinel) return roleLabelFor(ordinal);
  if (primaryPod === undefined) return undefined;
  return pod === primaryPod ? "primary" : "replica";
}

export const labelPods: Step = {
  name: "label-pods",
  async run(ctx: ReconcileContext): Promise<StepResult> {
    const sentinel =
      ctx.intent !== undefined &&
      sentinelManaged(ctx.intent, ctx.cluster.spec.mode === "sentinel", ctx.status().promotion?.phase);
    for (const pod of ctx.pods) {
      const name = pod.metadata?.name ?? "";
      const ordinal = ordinalOf(ctx.name, name);
      if (ordinal === undefined || pod.metadata?.deletionTimestamp !== undefined) continue;
      const role = desiredRole(sentinel, ordinal, name, ctx.primaryPod);
      if (role !== undefined && pod.metadata?.labels?.[ROLE_LABEL] !== role) {
        await ctx.deps.api.patchPodLabels(ctx.namespace, name, { [ROLE_LABEL]: role });
        ctx.log.info({ pod: name, role }, "pod labelled");
      }
    }
    return CONTINUE;
  },
};
