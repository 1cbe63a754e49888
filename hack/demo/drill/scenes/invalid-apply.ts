import { withSource } from "../../../lib/regions.ts";
import { expect, type Scene } from "../context.ts";

export const invalidApply: Scene = {
  name: "An invalid apply is refused",
  detail: "The same manifest with source port 70000.",
  async run(ctx) {
    const { say } = ctx;
    const invalid = withSource(ctx.need("redisWest"), ctx.wanToEast.host, 70000);
    say.command(["apply", "-f", "redis-west.yaml"], "source.port 70000");
    const refusal = await ctx.kubectl.refused(["apply", "-f", "-"], JSON.stringify(invalid));
    say.output(refusal);
    expect(
      /spec\.replicaMode\.source\.port: Invalid value: 70000/.test(refusal),
      "the refusal does not name spec.replicaMode.source.port",
    );
    say.observe("refused with the field error; redis-west is unchanged");
  },
};
