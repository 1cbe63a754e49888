import { condition } from "../../../lib/observe.ts";
import { startWriteLoad } from "../../lib/load.ts";
import {
  EAST,
  WEST,
  expect,
  mergePatch,
  podNames,
  until,
  type DrillContext,
  type Scene,
} from "../context.ts";

/**
 * Step 1 of the planned switchover (docs/switchover.md §2): redis-east, a replica of redis-west, is told it
 * may accept the primary role by hand-off, at the address us-west-2 reaches it at (the WAN link to
 * redis-east-external, redis-west's source). Nothing is broken: it keeps replicating.
 */
async function prepareEast(ctx: DrillContext): Promise<void> {
  const { host, port } = ctx.wanToEast;
  const args = mergePatch(EAST, "redis-east", {
    spec: { replicaMode: { promote: true, promoteBy: "Handoff", handoffAddress: { host, port } } },
  });
  ctx.say.command(args);
  ctx.say.output((await ctx.kubectl.ok(args)).stdout);
  const east = await until("redis-east awaiting the hand-off", async () => {
    const c = await ctx.east.cluster("redis-east");
    return c.status?.promotion?.phase === "AwaitingHandoff" ? c : undefined;
  });
  ctx.say.observe(`redis-east: ${east.status?.promotion?.message}`);
}

/**
 * Step 2: redis-west, a completed promotion, joins redis-east by hand-off with its demotion token: its
 * controller runs FAILOVER TO redis-east; nothing is discarded.
 */
async function handOverWest(ctx: DrillContext): Promise<number> {
  const token = (await ctx.west.cluster("redis-west")).status?.promotion?.replicationId ?? "";
  const args = mergePatch(WEST, "redis-west", {
    spec: { replicaMode: { promote: false, demotionToken: token, joinBy: "Handoff" } },
  });
  ctx.say.command(args);
  const run = await ctx.kubectl.ok(args);
  ctx.say.output(run.stderr + run.stdout);
  const west = await until(
    "redis-west handed over and replicating from redis-east",
    async () => {
      const c = await ctx.west.cluster("redis-west");
      return c.status?.switchover?.phase === "Completed" && c.status.lastDemotion?.completedAt !== undefined
        ? c
        : undefined;
    },
    60_000,
  );
  await until(
    "redis-east promotion Completed",
    async () => {
      const c = await ctx.east.cluster("redis-east");
      return c.status?.promotion?.phase === "Completed" && condition(c, "ReplicaMode")?.reason === "Promoted";
    },
    60_000,
  );
  ctx.say.observe(`redis-west: ${west.status?.switchover?.message}`);
  return west.status?.switchover?.pausedMs ?? 0;
}

export const failback: Scene = {
  name: "Fail back by hand-off: redis-west hands the primary role to redis-east",
  detail:
    "Planned, under no outage: redis-east takes the role with every write redis-west acknowledged, no full " +
    "resync in either region (docs/switchover.md); then us-west-2 is the DR region again.",
  async run(ctx) {
    const { say, east, west, password } = ctx;
    const everything = ctx.need("everything");
    const allPods = [...podNames("redis-east"), ...podNames("redis-west")];
    const fullBefore =
      (await ctx.fullSyncs(east, podNames("redis-east"))) +
      (await ctx.fullSyncs(west, podNames("redis-west")));
    await prepareEast(ctx);
    // The application keeps writing to redis-west (the primary) through the hand-off: every write it saw
    // acknowledged must be on both sides after. Once redis-west is a replica its writes get READONLY
    // (not acknowledged): the application then moves to redis-east.
    const load = startWriteLoad({
      host: ctx.need("westLeader"),
      password,
      prefix: "failback",
      batch: 20,
      pauseMs: 5,
    });
    ctx.loads.push(load);
    const pausedMs = await handOverWest(ctx);
    await load.stop();
    ctx.loads.splice(ctx.loads.indexOf(load), 1);
    expect(load.acknowledged.length > 0, "the write load got no acknowledgement before the hand-off");
    await ctx.withClient(ctx.need("eastLeader"), (c) => c.set("after-failback", "1"));
    await until(
      "a write on redis-east reaching redis-west",
      async () => (await west.onPod("redis-west-0", password, (c) => c.get("after-failback"))) === "1",
    );
    const written = [...everything, ...load.acknowledged];
    await ctx.checkKeys(east, podNames("redis-east"), written, "on redis-east after the failback");
    await ctx.checkKeys(west, podNames("redis-west"), written, "on redis-west after the failback");
    const fullAfter =
      (await ctx.fullSyncs(east, podNames("redis-east"))) +
      (await ctx.fullSyncs(west, podNames("redis-west")));
    if (fullAfter !== fullBefore) {
      throw new Error(
        `${fullAfter - fullBefore} full resyncs over ${allPods.length} pods during the hand-off`,
      );
    }
    say.observe(
      `redis-east is the primary again: ${load.acknowledged.length} writes acknowledged by redis-west during ` +
        `the hand-off, all on both sides; writes held ${pausedMs} ms (status.switchover.pausedMs), then ` +
        `answered READONLY on redis-west; no full resync, no key lost`,
    );
    say.command(["get", "redisclusters", "-A"]);
    say.output((await ctx.kubectl.ok(["get", "redisclusters", "-A"])).stdout);
  },
};
