import { WEST, serviceAddress, until, type Scene } from "../context.ts";

export const smokeTest: Scene = {
  name: "Smoke test on the promoted DR cluster",
  detail: "Write through redis-west-leader, read back from a replica.",
  async run(ctx) {
    const westLeader = serviceAddress(ctx.sb, "redis-west-leader", WEST);
    await ctx.withClient(westLeader, (c) => c.set("drill:smoke", "written during the drill"));
    await until(
      "the smoke-test key on redis-west-1",
      async () =>
        (await ctx.west.onPod("redis-west-1", ctx.password, (c) => c.get("drill:smoke"))) ===
        "written during the drill",
    );
    ctx.say.observe("SET drill:smoke on redis-west-leader, GET on redis-west-1: same value");
    ctx.state.westLeader = westLeader;
  },
};
