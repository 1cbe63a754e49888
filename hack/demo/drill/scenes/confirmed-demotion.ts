import { WEST, expect, podNames, until, type DrillContext, type Scene } from "../context.ts";

/** The naive revert, refused: its refusal gives the command with the demotion token. */
async function refusedRevert(ctx: DrillContext): Promise<RegExpExecArray | null> {
  const naive = [
    "-n",
    WEST,
    "patch",
    "rediscluster",
    "redis-west",
    "--type=merge",
    "-p",
    '{"spec":{"replicaMode":{"promote":false}}}',
  ];
  ctx.say.command(naive);
  const denied = await ctx.kubectl.refused(naive);
  ctx.say.output(denied);
  const suggested = /kubectl patch rediscluster (\S+) -n (\S+) --type=merge -p '([^']+)'/.exec(denied);
  expect(suggested !== null, "the refusal does not give the command with the demotion token");
  const token = ctx.need("promoted").status?.promotion?.replicationId ?? "";
  expect(
    suggested?.[3]?.includes(token) === true && token !== "",
    "the suggested command does not carry status.promotion.replicationId",
  );
  return suggested;
}

export const confirmedDemotion: Scene = {
  name: "End of the drill: a naive revert is refused, the confirmed demotion goes through",
  detail: "The reference's demote command would silently discard every write since the promotion.",
  async run(ctx) {
    const { say, west, password } = ctx;
    const suggested = await refusedRevert(ctx);
    const confirmed = [
      "-n",
      suggested?.[2] ?? WEST,
      "patch",
      "rediscluster",
      suggested?.[1] ?? "redis-west",
      "--type=merge",
      "-p",
      suggested?.[3] ?? "",
    ];
    say.command(confirmed);
    const demotion = await ctx.kubectl.ok(confirmed);
    say.output(demotion.stderr + demotion.stdout);
    await until(
      "redis-west demoted and in sync with redis-east again",
      async () => {
        const c = await west.cluster("redis-west");
        return (
          c.status?.lastDemotion?.completedAt !== undefined &&
          c.status.replication?.linkStatus === "Up" &&
          ctx.samples.at(-1)?.lagBytes === 0
        );
      },
      60_000,
    );
    await ctx.checkKeys(west, podNames("redis-west"), ctx.need("acknowledgedOnEast"), "after the demotion");
    const smokeGone = (await west.onPod("redis-west-0", password, (c) => c.exists("drill:smoke"))) === 0;
    expect(smokeGone, "the drill's write survived the demotion");
    const demoted = await west.cluster("redis-west");
    say.observe(
      `demoted: replicating from redis-east again; the drill's ${demoted.status?.lastDemotion?.discardedBytes ?? "?"} bytes of writes discarded, as the token confirmed`,
    );
  },
};
