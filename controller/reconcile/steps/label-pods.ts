/**
 * Lists the cluster's pods and gives each its `redis.io/role` label: `primary` for the designated leader
 * (ordinal 0, even while it replicates from the source), `replica` for the others. The `<name>-leader`
 * Service selects on it.
 */
import { CLUSTER_LABEL, ROLE_LABEL } from "../../kube/resources.ts";
import type { ReconcileContext, Step, StepResult } from "../context.ts";
import { CONTINUE } from "../context.ts";
import { ordinalOf, roleLabelFor } from "../decisions/pods.ts";

export const labelPods: Step = {
  name: "label-pods",
  async run(ctx: ReconcileContext): Promise<StepResult> {
    ctx.pods = await ctx.deps.api.listPods(ctx.namespace, `${CLUSTER_LABEL}=${ctx.name}`);
    for (const pod of ctx.pods) {
      const name = pod.metadata?.name ?? "";
      const ordinal = ordinalOf(ctx.name, name);
      if (ordinal === undefined || pod.metadata?.deletionTimestamp !== undefined) continue;
      const role = roleLabelFor(ordinal);
      if (pod.metadata?.labels?.[ROLE_LABEL] !== role) {
        await ctx.deps.api.patchPodLabels(ctx.namespace, name, { [ROLE_LABEL]: role });
        ctx.log.info({ pod: name, role }, "pod labelled");
      }
    }
    return CONTINUE;
  },
};
