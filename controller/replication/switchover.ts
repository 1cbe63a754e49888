/**
 * The planned switchover at the Redis level (docs/switchover.md §1), through the admin port only:
 * `prepareHandoffTarget` on the DR leader (announce the address the old primary dials, reconnect once), and
 * `switchover` on the old primary (FAILOVER TO under a pause of our own, then an outcome that says what
 * happened). Decisions are in decisions/switchover.ts.
 */
import type { RedisAdmin } from "../redis/admin-port.ts";
import type { ReplicationInfo } from "../redis/info.ts";
import {
  handoffReadiness,
  handoffResult,
  listedTarget,
  pauseStartDelay,
  type HandoffTarget,
} from "./decisions/switchover.ts";

export type { HandoffTarget } from "./decisions/switchover.ts";

export type SwitchoverOutcome =
  | {
      readonly kind: "handed-over";
      /** The new primary's replication ID and the old primary's offset on it once re-attached. */
      readonly newPrimary: { readonly replicationId: string; readonly offset: number };
      /** How long writes on the old primary were held, as the driver measured it. */
      readonly pausedMs: number;
      /** The old primary gave up after the target took over; the driver re-attached it before unpausing. */
      readonly repaired: boolean;
    }
  | {
      /** Nothing changed: the old primary is a writable primary again, the target still its replica. */
      readonly kind: "aborted";
      readonly reason: string;
      readonly pausedMs: number;
    }
  /** Nothing was sent: a precondition does not hold. */
  | { readonly kind: "refused"; readonly reason: string };

export interface SwitchoverRequest {
  /** The old primary. */
  readonly primary: RedisAdmin;
  /** The target as the old primary lists it in INFO replication (and will dial it). */
  readonly target: HandoffTarget;
  /** FAILOVER's TIMEOUT: the longest the target may take to catch up. */
  readonly timeoutMs: number;
  /** The target, asked with INFO only, to tell a lost hand-off (two primaries) from an aborted one. */
  readonly targetAdmin?: RedisAdmin | undefined;
  readonly pollIntervalMs?: number;
  /**
   * Start the pause this long before the target's next periodic acknowledgement, found by watching the
   * old primary's listing of it (up to one second, writes flowing); undefined: start at once.
   */
  readonly ackMarginMs?: number | undefined;
}

/**
 * Past FAILOVER's own timeout, how long `failover-in-progress` (the PSYNC FAILOVER round trip, which Redis
 * does not bound by the timeout) may last before the driver aborts it.
 */
const IN_PROGRESS_GRACE_MS = 5000;
/** How long a target missing from the old primary's list after an abort is given to re-attach. */
const RELISTING_GRACE_MS = 3000;
/** Our pause outlives the failover's by this much at most, so a driver that dies never leaves it. */
const PAUSE_MARGIN_MS = IN_PROGRESS_GRACE_MS + RELISTING_GRACE_MS + 2000;

export async function switchover(request: SwitchoverRequest): Promise<SwitchoverOutcome> {
  const { primary, target, timeoutMs } = request;
  const interval = request.pollIntervalMs ?? 5;
  const beforeSnapshot = await primary.snapshot();
  const before = beforeSnapshot.replication;
  const readiness = handoffReadiness(before, await primary.failoverState(), target);
  if (!readiness.ready) return { kind: "refused", reason: readiness.reason };
  if (request.ackMarginMs !== undefined) {
    const lastAckAt = await lastAcknowledgement(primary, target);
    if (lastAckAt !== undefined) {
      const delay = pauseStartDelay(lastAckAt, performance.now(), request.ackMarginMs);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  // Our own pause (Redis 7 keeps one per purpose): the failover's unpause does not lift it, so writes stay
  // held until we know whether the target took over, even if the old primary gave the hand-off up.
  await primary.clientPauseWrite(timeoutMs + PAUSE_MARGIN_MS);
  const pausedAt = performance.now();
  let unpaused = false;
  const unpause = async () => {
    if (unpaused) return;
    unpaused = true;
    await primary.clientUnpause();
  };
  try {
    try {
      await primary.failoverTo(target.host, target.port, timeoutMs);
    } catch (error) {
      await unpause();
      return { kind: "refused", reason: error instanceof Error ? error.message : String(error) };
    }
    // Redis checks FAILOVER's timeout on its own clock and event loop; the driver holds it to the timeout
    // too while the target has not caught up, and allows the PSYNC FAILOVER round trip a grace period.
    let sawInProgress = false;
    for (;;) {
      const state = await primary.failoverState();
      if (state === "no-failover") break;
      if (state === "failover-in-progress") sawInProgress = true;
      const elapsed = performance.now() - pausedAt;
      if (
        (state === "waiting-for-sync" && elapsed > timeoutMs) ||
        elapsed > timeoutMs + IN_PROGRESS_GRACE_MS
      ) {
        await primary.failoverAbort();
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
    let afterSnapshot = await primary.snapshot();
    if (!sawInProgress && listedTarget(afterSnapshot.replication, target) === undefined) {
      // The old primary drops its replicas when it turns to the target, so a target missing from the list
      // may be one it turned to and gave up on (a refused login): that target re-attaches within a second or
      // two of replication cron. Polling can miss a short in-progress state on a busy machine; wait for the
      // listing before telling that case from a target that never caught up. Writes stay held meanwhile:
      // until then the target may be a primary.
      const deadline = performance.now() + RELISTING_GRACE_MS;
      while (performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        afterSnapshot = await primary.snapshot();
        if (listedTarget(afterSnapshot.replication, target) !== undefined) break;
      }
    }
    const after = afterSnapshot.replication;
    // Re-attached replicas mean the old primary turned to the target for a moment (it drops its replicas).
    const reachedHandoff =
      sawInProgress || afterSnapshot.stats.syncPartialOk > beforeSnapshot.stats.syncPartialOk;
    // Only a target that acknowledged the whole stream can have taken over; one that did not may be hung.
    const mayHaveTakenOver =
      reachedHandoff || (listedTarget(after, target)?.offset ?? -1) >= after.masterReplOffset;
    const targetAfter = mayHaveTakenOver ? await askTarget(request.targetAdmin) : undefined;
    const result = handoffResult(before, after, target, targetAfter, timeoutMs, reachedHandoff);
    if (result.kind === "split") {
      // Nothing was written to the old primary since (our pause): it re-attaches with a partial resync.
      await primary.replicaOf(target.host, target.port);
      await unpause();
      return {
        kind: "handed-over",
        newPrimary: { replicationId: result.replicationId, offset: after.masterReplOffset },
        pausedMs: performance.now() - pausedAt,
        repaired: true,
      };
    }
    await unpause();
    const pausedMs = performance.now() - pausedAt;
    if (result.kind === "handed-over") {
      return {
        kind: "handed-over",
        newPrimary: { replicationId: result.replicationId, offset: result.offset },
        pausedMs,
        repaired: false,
      };
    }
    return { kind: "aborted", reason: `${result.reason}; nothing changed`, pausedMs };
  } finally {
    // Also after a failed command: never leave writes held longer than needed (Redis lifts it anyway).
    if (!unpaused) await unpause().catch(() => undefined);
  }
}

/**
 * When the target's listed offset last changed — an acknowledgement arrived — watching for up to 1.2 s;
 * undefined when it did not change (no writes: the target has acknowledged everything already).
 */
async function lastAcknowledgement(primary: RedisAdmin, target: HandoffTarget): Promise<number | undefined> {
  const first = listedTarget(await primary.replication(), target)?.offset;
  const deadline = performance.now() + 1200;
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 3));
    const offset = listedTarget(await primary.replication(), target)?.offset;
    if (offset !== first) return performance.now();
  }
  return undefined;
}

async function askTarget(admin: RedisAdmin | undefined): Promise<ReplicationInfo | undefined> {
  if (admin === undefined) return undefined;
  try {
    return await admin.replication();
  } catch {
    return undefined;
  }
}

/**
 * On the DR leader once it may accept a hand-off: announce `address` (what the old primary lists and dials)
 * and, when that changed, reconnect to the old primary once — a replica announces itself only at its
 * handshake. The reconnection is a partial resync. Resolves once the link is up again.
 */
export async function prepareHandoffTarget(
  leader: RedisAdmin,
  address: HandoffTarget,
  timeoutMs = 10_000,
): Promise<void> {
  let changed = false;
  for (const [parameter, value] of [
    ["replica-announce-ip", address.host],
    ["replica-announce-port", String(address.port)],
  ] as const) {
    if ((await leader.configGet(parameter)) !== value) {
      await leader.configSet(parameter, value);
      changed = true;
    }
  }
  if (changed) await leader.killMasterLink();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await leader.replication();
    if (info.master?.linkStatus === "up") return;
    if (Date.now() > deadline) throw new Error("the leader did not re-attach to its primary in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
