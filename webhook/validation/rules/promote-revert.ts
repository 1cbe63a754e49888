/**
 * The promote / revert state machine (DESIGN §4). The CRD carries the same decisions as CEL rules
 * (ROOT_TRANSITION_RULES and the replicaMode rule in schemas/rediscluster.ts) so a webhook outage does not
 * open the door; this rule adds what CEL cannot say (no promotion on CREATE) and the exact command to run.
 *
 * "Replicating" means replica mode enabled and no promotion requested. A promotion is "completed" once the
 * controller recorded the new history's replication ID in status.promotion.replicationId.
 */
import type { FieldPath } from "../../../kube-common/field-path.ts";
import { forbidden, type FieldError } from "../../../kube-common/field-errors.ts";
import {
  completedPromotionId,
  isReplicating,
  metadataString,
  promoteRequested,
  replicaModeOf,
  sourceOf,
  type RedisCluster,
} from "./cluster.ts";
import { isRecord } from "../../../kube-common/is-record.ts";

const PROMOTE_NEEDS_SOURCE = "promote requires enabled: true and a source";
export const PROMOTE_ON_CREATE =
  "cannot be set when the RedisCluster is created: create it replicating, then promote it";
const TURN_OFF_WHILE_REPLICATING =
  "cannot turn replica mode off while replicating: promote first (spec.replicaMode.promote: true)";

export function validatePromoteRevert(
  cluster: RedisCluster,
  path: FieldPath,
  old?: RedisCluster,
): FieldError[] {
  const replicaModePath = path.child("spec", "replicaMode");
  const replicaMode = replicaModeOf(cluster);
  const errors: FieldError[] = [];

  if (promoteRequested(cluster)) {
    if (replicaMode?.enabled !== true || sourceOf(cluster) === undefined) {
      errors.push(forbidden(replicaModePath.child("promote"), PROMOTE_NEEDS_SOURCE));
    }
    if (old === undefined) errors.push(forbidden(replicaModePath.child("promote"), PROMOTE_ON_CREATE));
  }
  if (old === undefined) return errors;

  // Replication stopped by anything but a promotion leaves pods with no primary and nothing recorded.
  if (isReplicating(old) && replicaMode?.enabled !== true) {
    errors.push(forbidden(replicaModePath.child("enabled"), TURN_OFF_WHILE_REPLICATING));
  }

  // Going back to replicating after a completed promotion makes every pod full-resync from the source,
  // discarding the writes made since: only on purpose, with the token.
  const token = completedPromotionId(old);
  if (
    token !== undefined &&
    !isReplicating(old) &&
    isReplicating(cluster) &&
    replicaMode?.demotionToken !== token
  ) {
    const field = promoteRequested(old) ? "promote" : "enabled";
    errors.push(
      forbidden(
        replicaModePath.child(field),
        "reverting a completed promotion discards every write made since the promotion; to confirm, set " +
          `spec.replicaMode.demotionToken to "${token}" in the same request, e.g. ` +
          demotionCommand(cluster, old, token),
      ),
    );
  }
  return errors;
}

/**
 * The `kubectl patch` that makes the same change to spec.replicaMode as the denied request, plus the token.
 * It is a merge patch of the difference between the stored and the requested replicaMode, so it works when
 * run as is against the stored object.
 */
function demotionCommand(cluster: RedisCluster, old: RedisCluster, token: string): string {
  const change = mergePatchDiff(replicaModeOf(old) ?? {}, replicaModeOf(cluster) ?? {});
  delete change.demotionToken;
  // Removing promote and setting it to false mean the same; false reads better in a runbook.
  if (change.promote === null) change.promote = false;
  const patch = { spec: { replicaMode: { ...change, demotionToken: token } } };
  const name = metadataString(cluster, "name") || metadataString(old, "name");
  const namespace = metadataString(cluster, "namespace") || metadataString(old, "namespace");
  return (
    `kubectl patch rediscluster ${shellWord(name)} -n ${shellWord(namespace)} --type=merge ` +
    `-p ${shellQuote(JSON.stringify(patch))}`
  );
}

/** RFC 7386: the merge patch that turns `from` into `to` (removed keys become null). */
function mergePatchDiff(from: Record<string, unknown>, to: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  // A key such as `__proto__` is an ordinary key in JSON: define it, never assign it (that sets a prototype).
  const set = (key: string, value: unknown) =>
    Object.defineProperty(patch, key, { value, enumerable: true, writable: true, configurable: true });
  const own = (object: Record<string, unknown>, key: string) =>
    Object.prototype.hasOwnProperty.call(object, key);
  for (const [key, value] of Object.entries(to)) {
    const before = own(from, key) ? from[key] : undefined;
    if (isRecord(before) && isRecord(value)) {
      const nested = mergePatchDiff(before, value);
      if (Object.keys(nested).length > 0) set(key, nested);
    } else if (!own(from, key) || JSON.stringify(before) !== JSON.stringify(value)) {
      set(key, value);
    }
  }
  for (const key of Object.keys(from)) {
    if (!own(to, key)) set(key, null);
  }
  return patch;
}

/** POSIX single quoting: everything literal, a single quote written as '\''. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** Kubernetes names need no quoting; anything else gets it. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9._-]+$/.test(text) ? text : shellQuote(text);
}
