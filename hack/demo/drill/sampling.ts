/**
 * The drill's timeline: the DR picture sampled every 200 ms while the scenes run.
 */
import type { RegionLink } from "../../lib/link.ts";
import type { LinkState, Role } from "../lib/timeline.ts";
import type { DrillContext } from "./context.ts";

const roleOf = (i: Record<string, string> | undefined): Role =>
  i === undefined ? "unknown" : i["role"] === "master" ? "primary" : "replica";

function linkOf(replica: Record<string, string>): LinkState {
  if (replica["master_sync_in_progress"] === "1") return "syncing";
  return replica["master_link_status"] === "up" ? "up" : "down";
}

/** Samples the DR picture every 200 ms for the timeline: lag against the source's own offset, link, roles. */
export function startSampling(ctx: DrillContext, toEast: RegionLink): void {
  ctx.sampling = true;
  const started = Date.now() - ctx.say.elapsedMs();
  ctx.sampler = (async () => {
    while (ctx.sampling) {
      const [eastInfo, westInfo] = await Promise.all([
        ctx.east.info("redis-east-0", ctx.password, "replication").catch(() => undefined),
        ctx.west.info("redis-west-0", ctx.password, "replication").catch(() => undefined),
      ]);
      // Whichever region replicates, its leader's lag against the other region's primary.
      const [replica, primary] =
        roleOf(westInfo) === "replica"
          ? [westInfo, eastInfo]
          : roleOf(eastInfo) === "replica"
            ? [eastInfo, westInfo]
            : [undefined, undefined];
      let link: LinkState = "none";
      let lagBytes: number | undefined;
      if (replica !== undefined) {
        link = linkOf(replica);
        if (link === "up" && primary !== undefined && (toEast.linkState === "open" || replica === eastInfo)) {
          lagBytes = Math.max(
            0,
            Number(primary["master_repl_offset"]) - Number(replica["master_repl_offset"]),
          );
        }
      }
      ctx.samples.push({
        atMs: Date.now() - started,
        lagBytes,
        link,
        roles: { "us-east": roleOf(eastInfo), "us-west": roleOf(westInfo) },
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
}
