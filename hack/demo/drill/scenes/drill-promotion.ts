import { condition } from "../../../lib/observe.ts";
import { WEST, podNames, promotePatch, type Scene } from "../context.ts";

export const drillPromotion: Scene = {
  name: "DR drill: promote redis-west",
  detail:
    "The reference's drill: kubectl patch … promote: true. Measured: request to the first accepted write on redis-west-leader.",
  async run(ctx) {
    const {
      ms: promotedIn,
      cluster: promoted,
      resyncs,
    } = await ctx.promoteMeasured("drill", ctx.west, "redis-west", promotePatch(WEST, "redis-west"));
    ctx.say.observe(
      `redis-west-leader accepted a write ${promotedIn} ms after the patch; ReplicaMode False/Promoted: "${condition(promoted, "ReplicaMode")?.message}"`,
    );
    ctx.say.observe(
      `full resyncs during the promotion (INFO stats sync_full on redis-west-0..2): ${resyncs}`,
    );
    await ctx.checkKeys(
      ctx.west,
      podNames("redis-west"),
      ctx.need("acknowledgedOnEast"),
      "after the drill's promotion",
    );
    ctx.state.promoted = promoted;
  },
};
