import { WEST, expect, podNames, promotePatch, type Scene } from "../context.ts";

export const failover: Scene = {
  name: "Failover: promote redis-west during the outage",
  detail: "A human decision: the operator never promotes by itself.",
  async run(ctx) {
    const { ms: failoverIn, resyncs: failoverResyncs } = await ctx.promoteMeasured(
      "failover",
      ctx.west,
      "redis-west",
      promotePatch(WEST, "redis-west"),
    );
    await ctx.checkKeys(
      ctx.west,
      podNames("redis-west"),
      ctx.need("replicatedBeforeOutage"),
      "after the failover",
    );
    const westWrites = Array.from({ length: 500 }, (_, i) => `after-failover:${i}`);
    await ctx.withClient(ctx.need("westLeader"), async (c) => {
      const pipeline = c.pipeline();
      for (const key of westWrites) pipeline.set(key, "1");
      const results = (await pipeline.exec()) ?? [];
      expect(
        results.every(([error]) => error === null),
        "redis-west refused a write after the failover",
      );
    });
    ctx.say.observe(
      `writable ${failoverIn} ms after the patch; full resyncs: ${failoverResyncs}; the application now writes to redis-west-leader (${westWrites.length} keys)`,
    );
    ctx.state.westWrites = westWrites;
  },
};
