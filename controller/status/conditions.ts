/**
 * setCondition: the one way a condition enters status. lastTransitionTime only moves when the condition's
 * status does, as Kubernetes' own meta.SetStatusCondition does, so a steady cluster produces no status writes.
 */
import type { Condition } from "../../schemas/generated/rediscluster.ts";
import { CONDITION_MESSAGE_MAX_LENGTH } from "../../schemas/rediscluster.ts";
import type { ConditionInput } from "../model/conditions.ts";

const TRUNCATED = " … (truncated)";

/**
 * A message the CRD accepts: at most CONDITION_MESSAGE_MAX_LENGTH characters (the API server counts Unicode
 * code points). A longer one — an error quoting a huge reply — would make every status write fail with 422.
 */
export function conditionMessage(message: string): string {
  // UTF-16 units are never fewer than code points: a short string is within the limit without counting.
  if (message.length <= CONDITION_MESSAGE_MAX_LENGTH) return message;
  const codePoints = Array.from(message);
  if (codePoints.length <= CONDITION_MESSAGE_MAX_LENGTH) return message;
  return (
    codePoints.slice(0, CONDITION_MESSAGE_MAX_LENGTH - Array.from(TRUNCATED).length).join("") + TRUNCATED
  );
}

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
    message: conditionMessage(input.message),
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
