/**
 * The health of the cross-region link, judged from the designated leader's INFO and the source's own offset.
 * A replica reports no lag while it is cut off (it compares against what it last heard), so lag is only ever
 * computed against the source's master_repl_offset.
 */
import type { InstanceSnapshot } from "../../redis/admin-port.ts";
import type { LinkStatus } from "../../model/conditions.ts";

export function linkStatusOf(leader: InstanceSnapshot | undefined): LinkStatus {
  const master = leader?.replication.master;
  if (leader === undefined) return "Unknown";
  if (master === undefined) return "Down";
  if (master.syncInProgress) return "Syncing";
  return master.linkStatus === "up" ? "Up" : "Down";
}

/** Bytes the replica is behind the source; undefined when the source could not be asked. */
export function lagBytes(sourceOffset: number | undefined, replicaOffset: number): number | undefined {
  if (sourceOffset === undefined) return undefined;
  return Math.max(0, sourceOffset - replicaOffset);
}

/**
 * When the link went down: kept from the previous status while it stays down (so the duration grows across
 * reconciles and controller restarts), else derived from Redis' own master_link_down_since_seconds.
 */
export function linkDownSince(
  status: LinkStatus,
  previousSince: string | undefined,
  leader: InstanceSnapshot | undefined,
  now: Date,
): string | undefined {
  if (status !== "Down") return undefined;
  if (previousSince !== undefined) return previousSince;
  const seconds = leader?.replication.master?.linkDownSinceSeconds ?? -1;
  return new Date(now.getTime() - Math.max(0, seconds) * 1000).toISOString();
}

export const secondsSince = (since: string | undefined, now: Date): number | undefined =>
  since === undefined ? undefined : Math.max(0, Math.floor((now.getTime() - Date.parse(since)) / 1000));
