import { RegionLink } from "../../../lib/link.ts";
import { condition, missing } from "../../../lib/observe.ts";
import { exampleManifest, inNamespace, withSource, withSpec } from "../../../lib/regions.ts";
import { EAST, INSTANCES, WEST, podNames, until, type DrillContext, type Scene } from "../context.ts";

/** redis-west's LoadBalancer, reached from us-east-1 across the WAN; the WAN to us-east-1 heals. */
async function openWanToWest(ctx: DrillContext): Promise<void> {
  const westExternal = inNamespace(exampleManifest("cross-region/redis-west-external.yaml"), WEST);
  ctx.say.command(["apply", "-f", "redis-west-external.yaml"]);
  await ctx.kubectl.apply([westExternal]);
  const westLb = await until("redis-west-external's LoadBalancer IP", async () =>
    ctx.sb.loadBalancerIP("redis-west-external", WEST),
  );
  const toWest = new RegionLink(ctx.wanToWest.host, ctx.wanToWest.port, { host: westLb, port: 6379 });
  ctx.links.push(toWest);
  await toWest.start();
  ctx.need("toEast").heal();
}

export const recoverEast: Scene = {
  name: "us-east-1 is back: recover the primary region",
  detail:
    "manifests/examples/cross-region/redis-east-failback.yaml: redis-east now replicates FROM redis-west.",
  async run(ctx) {
    const { say, east, password, wanToWest } = ctx;
    await openWanToWest(ctx);
    const eastFailback = inNamespace(
      withSource(
        withSpec(exampleManifest("cross-region/redis-east-failback.yaml"), {
          instances: INSTANCES,
        }),
        wanToWest.host,
        wanToWest.port,
      ),
      EAST,
    );
    say.command(["apply", "-f", "redis-east-failback.yaml"], `source.host ${wanToWest.host}`);
    const failback = await ctx.kubectl.apply([eastFailback]);
    say.output(failback.stderr + failback.stdout);
    const westWrites = ctx.need("westWrites");
    const everything = [...ctx.need("replicatedBeforeOutage"), ...westWrites];
    await until(
      "redis-east replicating from redis-west, in sync",
      async () => {
        const c = await east.cluster("redis-east");
        if (c.status?.replication?.linkStatus !== "Up") return false;
        return (
          missing(westWrites, await east.keys("redis-east-0", password, "after-failover:*")).length === 0
        );
      },
      60_000,
    );
    await ctx.checkKeys(east, podNames("redis-east"), everything, "on redis-east after the recovery");
    say.observe(
      `ReplicaMode on redis-east: "${condition(await east.cluster("redis-east"), "ReplicaMode")?.message}"`,
    );
    ctx.state.everything = everything;
  },
};
