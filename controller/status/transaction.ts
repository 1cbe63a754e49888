/**
 * A status change is a pure function of the current status. The patcher (patch.ts) applies transactions to
 * the freshest copy it reads, so a change computed before a 409 conflict is re-applied, not overwritten.
 */
import type { RedisClusterStatus } from "../../schemas/generated/rediscluster.ts";

export type StatusTransaction = (status: RedisClusterStatus) => RedisClusterStatus;

export const compose =
  (...transactions: readonly StatusTransaction[]): StatusTransaction =>
  (status) =>
    transactions.reduce((s, tx) => tx(s), status);

/** Deep equality for JSON values (status objects): key order does not matter, undefined fields do not count. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const key of keys) if (!jsonEqual(ra[key], rb[key])) return false;
  return true;
}

/**
 * RFC 7386 merge patch turning `from` into `to`: removed fields become null, arrays are replaced whole
 * (conditions is a list the controller owns entirely).
 */
export function mergePatch(from: unknown, to: unknown): unknown {
  if (
    typeof to !== "object" ||
    to === null ||
    Array.isArray(to) ||
    typeof from !== "object" ||
    from === null ||
    Array.isArray(from)
  ) {
    return to;
  }
  const f = from as Record<string, unknown>;
  const t = to as Record<string, unknown>;
  const patch: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(f), ...Object.keys(t)])) {
    if (t[key] === undefined) {
      if (f[key] !== undefined) patch[key] = null;
    } else if (!jsonEqual(f[key], t[key])) {
      patch[key] = mergePatch(f[key], t[key]);
    }
  }
  return patch;
}
