/**
 * The StatefulSet, Services and PodDisruptionBudget of the cluster: created when missing; the StatefulSet's
 * replicas and pod template follow the spec (detected through a hash annotation, so an unchanged spec costs
 * no write). The budget depends on nothing in the spec but the name, so it is never updated.
 */
import {
  SPEC_HASH_ANNOTATION,
  podDisruptionBudgetFor,
  servicesFor,
  statefulSetFor,
} from "../../kube/resources.ts";
import type { ReconcileContext, Step, StepResult } from "../context.ts";
import { CONTINUE } from "../context.ts";

export const ensureWorkloads: Step = {
  name: "ensure-workloads",
  async run(ctx: ReconcileContext): Promise<StepResult> {
    const api = ctx.deps.api;
    const desired = statefulSetFor(ctx.cluster);
    const live = await api.getStatefulSet(ctx.namespace, ctx.name);
    if (live === undefined) {
      await api.createStatefulSet(ctx.namespace, desired);
      await ctx.event(
        "Normal",
        "StatefulSetCreated",
        `Created StatefulSet ${ctx.name} with ${desired.spec?.replicas} pods`,
      );
    } else if (
      live.metadata?.annotations?.[SPEC_HASH_ANNOTATION] !==
      desired.metadata?.annotations?.[SPEC_HASH_ANNOTATION]
    ) {
      await api.updateStatefulSet(ctx.namespace, ctx.name, desired);
      await ctx.event(
        "Normal",
        "StatefulSetUpdated",
        `Updated StatefulSet ${ctx.name} (${desired.spec?.replicas} pods)`,
      );
    }
    for (const service of servicesFor(ctx.cluster)) {
      const name = service.metadata?.name ?? "";
      if ((await api.getService(ctx.namespace, name)) === undefined) {
        await api.createService(ctx.namespace, service);
        ctx.log.info({ service: name }, "service created");
      }
    }
    if ((await api.getPodDisruptionBudget(ctx.namespace, ctx.name)) === undefined) {
      await api.createPodDisruptionBudget(ctx.namespace, podDisruptionBudgetFor(ctx.cluster));
      ctx.log.info({ podDisruptionBudget: ctx.name }, "pod disruption budget created");
    }
    return CONTINUE;
  },
};
