import { EAST, WEST, podNames, promotePatch, until, type DrillContext, type Scene } from "../context.ts";

/** redis-west back to a DR cluster: demoted with its token, replicating from redis-east again. */
async function demoteWest(ctx: DrillContext): Promise<void> {
  const westToken = (await ctx.west.cluster("redis-west")).status?.promotion?.replicationId ?? "";
  const demote = [
    "-n",
    WEST,
    "patch",
    "rediscluster",
    "redis-west",
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { replicaMode: { promote: false, demotionToken: westToken } } }),
  ];
  ctx.say.command(demote);
  await ctx.kubectl.ok(demote);
  await until(
    "redis-west replicating from redis-east again",
    async () => {
      const c = await ctx.west.cluster("redis-west");
      return (
        c.status?.lastDemotion?.replicationId === westToken &&
        c.status.lastDemotion.completedAt !== undefined &&
        c.status.replication?.linkStatus === "Up"
      );
    },
    60_000,
  );
}

export const failback: Scene = {
  name: "Fail back: promote redis-east, demote redis-west with its token",
  detail: "Planned: no writes in flight, redis-east in sync; then us-west-2 becomes the DR region again.",
  async run(ctx) {
    const { say, east, west, password } = ctx;
    const everything = ctx.need("everything");
    const { ms: failbackIn } = await ctx.promoteMeasured(
      "failback",
      east,
      "redis-east",
      promotePatch(EAST, "redis-east"),
    );
    await demoteWest(ctx);
    await ctx.withClient(ctx.need("eastLeader"), (c) => c.set("after-failback", "1"));
    await until(
      "a write on redis-east reaching redis-west",
      async () => (await west.onPod("redis-west-0", password, (c) => c.get("after-failback"))) === "1",
    );
    await ctx.checkKeys(east, podNames("redis-east"), everything, "on redis-east after the failback");
    await ctx.checkKeys(west, podNames("redis-west"), everything, "on redis-west after the failback");
    say.observe(
      `redis-east writable ${failbackIn} ms after its promotion; redis-west replicates from it again; no key lost`,
    );
    say.command(["get", "redisclusters", "-A"]);
    say.output((await ctx.kubectl.ok(["get", "redisclusters", "-A"])).stdout);
  },
};
