/**
 * Conditions the engine raises while it waits for something it must not decide alone (LeaderBlocked,
 * SourceDiscontinuity): True with a Warning Event once per message — not on every pass that finds the same
 * wait — and False with a Normal Event once the wait is over.
 */
import type { ConditionInput } from "../model/conditions.ts";
import { findCondition, setCondition } from "../status/conditions.ts";
import type { ReplicationContext } from "./context.ts";

const commitCondition = (ctx: ReplicationContext, condition: ConditionInput): Promise<void> =>
  ctx.commit((s) => ({ ...s, conditions: setCondition(s.conditions, condition, undefined, ctx.now()) }));

/** `condition` (status True): logged, a Warning Event named after its type, and status — once per message. */
export async function raiseCondition(ctx: ReplicationContext, condition: ConditionInput): Promise<void> {
  const current = findCondition(ctx.status().conditions, condition.type);
  if (current?.status === "True" && current.message === condition.message) return;
  ctx.log.warn({ condition: condition.type, reason: condition.reason }, condition.message);
  await ctx.event("Warning", condition.type, condition.message);
  await commitCondition(ctx, condition);
}

/** `condition` (status False) replaces a True one of its type, with a Normal Event `reason`. */
export async function settleCondition(
  ctx: ReplicationContext,
  condition: ConditionInput,
  reason: string,
): Promise<void> {
  if (findCondition(ctx.status().conditions, condition.type)?.status !== "True") return;
  await ctx.event("Normal", reason, condition.message);
  await commitCondition(ctx, condition);
}
