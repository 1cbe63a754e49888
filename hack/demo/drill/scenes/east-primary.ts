import { RegionLink } from "../../../lib/link.ts";
import { condition } from "../../../lib/observe.ts";
import { exampleManifest, inNamespace, withSpec } from "../../../lib/regions.ts";
import { startSampling } from "../sampling.ts";
import { EAST, INSTANCES, WEST, until, type Scene } from "../context.ts";

export const eastPrimary: Scene = {
  name: "us-east: the primary cluster redis-east and its LoadBalancer",
  detail: "manifests/examples/cross-region/redis-east.yaml, 3 instances instead of 5.",
  async run(ctx) {
    const { say, kubectl, sb, east } = ctx;
    say.note(
      "redis-east runs in sentinel mode, as in the reference: Sentinel manages failover inside us-east-1.",
    );
    for (const ns of [EAST, WEST]) {
      say.command(["apply", "-f", "-"], `Namespace ${ns}`);
      await kubectl.applyNamespace(ns);
    }
    say.command(["-n", EAST, "apply", "-f", "-"], "Secret redis-password, the password on stdin");
    await kubectl.applyPasswordSecret(EAST, "redis-password", ctx.password);
    const redisEast = inNamespace(
      withSpec(exampleManifest("cross-region/redis-east.yaml"), { instances: INSTANCES }),
      EAST,
    );
    const eastExternal = inNamespace(exampleManifest("cross-region/redis-east-external.yaml"), EAST);
    say.command(["apply", "-f", "redis-east.yaml", "-f", "redis-east-external.yaml"]);
    await kubectl.apply([redisEast, eastExternal]);
    await until(
      "redis-east Ready",
      async () => condition(await east.cluster("redis-east"), "Ready")?.status === "True",
      60_000,
    );
    const eastLb = await until("redis-east-external's LoadBalancer IP", async () =>
      sb.loadBalancerIP("redis-east-external", EAST),
    );
    const toEast = new RegionLink(ctx.wanToEast.host, ctx.wanToEast.port, { host: eastLb, port: 6379 });
    ctx.links.push(toEast);
    await toEast.start();
    say.command(["-n", EAST, "get", "redisclusters"]);
    say.output((await kubectl.ok(["-n", EAST, "get", "redisclusters"])).stdout);
    say.observe(
      `redis-east is Ready; redis-east-external has LoadBalancer IP ${eastLb}, reached from us-west-2 as ${ctx.wanToEast.host} across the WAN`,
    );
    startSampling(ctx, toEast);
    ctx.state.eastLb = eastLb;
    ctx.state.toEast = toEast;
  },
};
