import { condition, controllerMetrics, metricValue, missing } from "../../../lib/observe.ts";
import { WEST, until, type DrillContext, type Scene } from "../context.ts";

/** The last writes before the outage, once they reached us-west-2. */
async function lastWritesReplicated(ctx: DrillContext): Promise<string[]> {
  const lastWrites = Array.from({ length: 200 }, (_, i) => `before-outage:${i}`);
  await ctx.withClient(ctx.need("eastLeader"), async (c) => {
    const pipeline = c.pipeline();
    for (const key of lastWrites) pipeline.set(key, "1");
    await pipeline.exec();
  });
  await until(
    "the last writes on redis-west-0",
    async () =>
      missing(lastWrites, await ctx.west.keys("redis-west-0", ctx.password, "before-outage:*")).length === 0,
  );
  return lastWrites;
}

/** What the controller reports of the cut link: redis_master_link_up and a LinkDown Event. */
async function linkDownReported(ctx: DrillContext): Promise<void> {
  const linkUp = await until("redis_master_link_up 0", async () => {
    const v = metricValue(await controllerMetrics(ctx.sb), "redis_master_link_up", {
      namespace: WEST,
      cluster: "redis-west",
      pod: "redis-west-0",
    });
    return v === 0 ? "0" : undefined;
  });
  const linkDownEvent = await until("a LinkDown Event", async () =>
    (await ctx.west.events("redis-west")).find((e) => e.reason === "LinkDown"),
  );
  ctx.say.observe(
    `redis_master_link_up{pod="redis-west-0"} ${linkUp}; Event ${linkDownEvent.type}/${linkDownEvent.reason}: "${linkDownEvent.message}"`,
  );
}

export const regionOutage: Scene = {
  name: "Region outage: us-east-1 becomes unreachable",
  detail: "The last writes reach us-west-2, then the WAN is cut.",
  async run(ctx) {
    const { say, kubectl, west } = ctx;
    const lastWrites = await lastWritesReplicated(ctx);
    ctx.state.replicatedBeforeOutage = [...ctx.need("acknowledgedOnEast"), ...lastWrites];
    ctx.need("toEast").cut();
    say.note(`(the TCP proxy ${ctx.wanToEast.host} → ${ctx.need("eastLb")} drops every connection)`);
    const down = await until("ReplicationHealthy False/LinkDown", async () => {
      const c = await west.cluster("redis-west");
      return condition(c, "ReplicationHealthy")?.reason === "LinkDown" ? c : undefined;
    });
    say.command(["-n", WEST, "get", "rediscluster", "redis-west"]);
    say.output((await kubectl.ok(["-n", WEST, "get", "rediscluster", "redis-west"])).stdout);
    say.observe(`ReplicationHealthy False/LinkDown: "${condition(down, "ReplicationHealthy")?.message}"`);
    await linkDownReported(ctx);
  },
};
