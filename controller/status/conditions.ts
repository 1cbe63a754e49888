/**
 * setCondition: the one way a condition enters status. lastTransitionTime only moves when the condition's
 * status does, as Kubernetes' own meta.SetStatusCondition does, so a steady cluster produces no status writes.
 */
import type { Condition } from "../../schemas/generated/rediscluster.ts";
import type { ConditionInput } from "../reconcile/decisions/conditions.ts";

export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  observedGeneration: number | undefined,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const existing = index === -1 ? undefined : list[index];
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message,
    lastTransitionTime:
      existing !== undefined && existing.status === input.status
        ? existing.lastTransitionTime
        : now.toISOString(),
    ...(observedGeneration === undefined ? {} : { observedGeneration }),
  };
  if (existing === undefined) list.push(next);
  else list[index] = next;
  return list;
}

export const findCondition = (
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined => conditions?.find((c) => c.type === type);
