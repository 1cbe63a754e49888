import { condition, parseInfo } from "../../../lib/observe.ts";
import { exampleManifest, inNamespace, withSource, withSpec } from "../../../lib/regions.ts";
import { INSTANCES, SEED_KEYS, WEST, expect, until, type Scene } from "../context.ts";

export const westReplica: Scene = {
  name: "us-west: the DR cluster redis-west in replica mode",
  detail:
    "manifests/examples/cross-region/redis-west.yaml: replicates from redis-east's LoadBalancer address across the WAN.",
  async run(ctx) {
    const { say, kubectl, west, password, wanToEast } = ctx;
    say.command(["-n", WEST, "apply", "-f", "-"], "Secret redis-password: the same password as us-east");
    await kubectl.applyPasswordSecret(WEST, "redis-password", password);
    const redisWest = inNamespace(
      withSource(
        withSpec(exampleManifest("cross-region/redis-west.yaml"), { instances: INSTANCES }),
        wanToEast.host,
        wanToEast.port,
      ),
      WEST,
    );
    say.command(["apply", "-f", "redis-west.yaml"], `source.host ${wanToEast.host}`);
    const applied = Date.now();
    await kubectl.apply([redisWest]);
    await until(
      "redis-west's first full sync",
      async () => {
        const c = await west.cluster("redis-west");
        if (c.status?.replication?.linkStatus !== "Up") return false;
        return (await west.onPod("redis-west-0", password, (r) => r.dbsize())) >= SEED_KEYS;
      },
      60_000,
    );
    ctx.figures.firstFullSyncMs = Date.now() - applied;
    say.observe(
      `first full sync done ${(ctx.figures.firstFullSyncMs / 1000).toFixed(1)}s after the apply (pods started, ${SEED_KEYS} keys copied)`,
    );
    ctx.state.redisWest = redisWest;
    const exec = [
      "-n",
      WEST,
      "exec",
      "redis-west-0",
      "--",
      "sh",
      "-c",
      'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli INFO replication',
    ];
    say.command(exec);
    const info = parseInfo((await kubectl.ok(exec)).stdout);
    say.output(
      ["role", "master_host", "master_port", "master_link_status", "master_sync_in_progress"]
        .map((f) => `${f}:${info[f]}`)
        .join("\n"),
    );
    expect(
      info["role"] === "slave" &&
        info["master_link_status"] === "up" &&
        info["master_host"] === wanToEast.host,
      "redis-west-0 does not replicate from redis-east",
    );
    const replicating = await until("the ReplicaMode condition", async () => {
      const c = await west.cluster("redis-west");
      return condition(c, "ReplicaMode")?.reason === "Enabled" ? c : undefined;
    });
    say.observe(
      `ReplicaMode ${condition(replicating, "ReplicaMode")?.status}/${condition(replicating, "ReplicaMode")?.reason}: "${condition(replicating, "ReplicaMode")?.message}"`,
    );
  },
};
