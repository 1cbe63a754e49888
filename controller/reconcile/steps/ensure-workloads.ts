/**
 * The StatefulSet, Services and PodDisruptionBudget of the cluster: created when missing; the StatefulSet's
 * replicas and pod template follow the spec (detected through a hash annotation, so an unchanged spec costs
 * no write). The budget depends on nothing in the spec but the name, so it is never updated. What exists is
 * read from the informers' caches (kube/cluster-api.ts): a cluster whose objects are as desired costs no
 * API request. A create refused with 409 (the cache had not seen the object yet) reads it afresh.
 */
import { apiErrorCode } from "../../kube/cluster-api.ts";
import {
  SPEC_HASH_ANNOTATION,
  podDisruptionBudgetFor,
  servicesFor,
  statefulSetFor,
  statefulSetSpecHash,
} from "../../kube/resources.ts";
import type { ReconcileContext, Step, StepResult } from "../context.ts";
import { CONTINUE } from "../context.ts";

/** Runs a create; false when the object already existed (409 AlreadyExists). */
async function created(create: () => Promise<void>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (error) {
    if (apiErrorCode(error) !== 409) throw error;
    return false;
  }
}

/**
 * Creates the StatefulSet when missing, and replaces it when its spec hash is not the one the cluster's spec
 * gives. The desired object is built only for a write.
 */
async function ensureStatefulSet(ctx: ReconcileContext): Promise<void> {
  const api = ctx.deps.api;
  let live = await api.getStatefulSet(ctx.namespace, ctx.name);
  if (live === undefined) {
    const desired = statefulSetFor(ctx.cluster);
    if (await created(() => api.createStatefulSet(ctx.namespace, desired))) {
      await ctx.event(
        "Normal",
        "StatefulSetCreated",
        `Created StatefulSet ${ctx.name} with ${desired.spec?.replicas} pods`,
      );
      return;
    }
    live = await api.getStatefulSet(ctx.namespace, ctx.name, true);
    if (live === undefined) return; // deleted again meanwhile: the next pass creates it
  }
  const hash = statefulSetSpecHash(ctx.cluster, ctx.deps.specHashes);
  if (live.metadata?.annotations?.[SPEC_HASH_ANNOTATION] !== hash) {
    const desired = statefulSetFor(ctx.cluster);
    await api.updateStatefulSet(ctx.namespace, ctx.name, desired);
    await ctx.event(
      "Normal",
      "StatefulSetUpdated",
      `Updated StatefulSet ${ctx.name} (${desired.spec?.replicas} pods)`,
    );
  }
}

export const ensureWorkloads: Step = {
  name: "ensure-workloads",
  async run(ctx: ReconcileContext): Promise<StepResult> {
    const api = ctx.deps.api;
    await ensureStatefulSet(ctx);
    for (const service of servicesFor(ctx.cluster)) {
      const name = service.metadata?.name ?? "";
      if (
        (await api.getService(ctx.namespace, name)) === undefined &&
        (await created(() => api.createService(ctx.namespace, service)))
      ) {
        ctx.log.info({ service: name }, "service created");
      }
    }
    if (
      (await api.getPodDisruptionBudget(ctx.namespace, ctx.name)) === undefined &&
      (await created(() => api.createPodDisruptionBudget(ctx.namespace, podDisruptionBudgetFor(ctx.cluster))))
    ) {
      ctx.log.info({ podDisruptionBudget: ctx.name }, "pod disruption budget created");
    }
    return CONTINUE;
  },
};
