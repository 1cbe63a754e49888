/**
 * The planned switchover of docs/switchover.md, declaratively, with two managed clusters on the sandbox:
 * redis-east (the primary, 3 instances, exposed by redis-east-external) and redis-west (its DR replica, 3
 * instances, exposed by redis-west-external). A writer writes to redis-east throughout and moves to
 * redis-west when it is answered READONLY. West's change (promote: true, promoteBy: Handoff) then east's
 * (replica of west, joinBy: Handoff) — first with the target hung so that the hand-off times out and changes
 * nothing, then again with a new handoffAttempt, then back (redis-west demoted by hand-off with its token) —
 * and, in a second region, the reverse order.
 * Outcomes: every acknowledged write on every pod of both regions, no full resync in either, east's pods
 * replicas of west, status and conditions exact; the writer's pause is reported as a diagnostic.
 * Loopback ranges 127.98.0.0/16 and 127.99.0.0/16.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { condition } from "../../../hack/lib/observe.ts";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import {
  everyPodHolds,
  fullSyncsServed,
  podNames,
  promotionCompleted,
  redisCliInfo,
  redisClusterManifest,
  replicaSpec,
  replicating,
  startRegion,
  untilCluster,
  waitFor,
  type Region,
} from "../../support/region-fixture.ts";

const NS = "default";
const PASSWORD = "switchover-pw-98";
const eastPods = podNames("redis-east", 3);
const westPods = podNames("redis-west", 3);
const allPods = [...eastPods, ...westPods];

const externalService = (cluster: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: `${cluster}-external`, namespace: NS },
  spec: {
    type: "LoadBalancer",
    selector: { "redis.io/cluster": cluster, "redis.io/role": "primary" },
    ports: [{ name: "redis", port: 6379, targetPort: 6379, protocol: "TCP" }],
  },
});

const eastSpec = { instances: 3, storage: { size: "1Gi" }, authSecret: { name: "redis-password" } };

/**
 * Writes `<prefix>:<n>` one at a time, to `first` until it answers READONLY, then to `second`. Records every
 * acknowledged key and the longest time between two acknowledgements.
 */
class Writer {
  readonly acknowledged: string[] = [];
  longestGapMs = 0;
  readOnlyAnswers = 0;
  private stopped = false;
  private done: Promise<void> | undefined;
  constructor(
    private readonly first: string,
    private readonly second: string,
    private readonly prefix = "w",
  ) {}

  start(): void {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    const connect = (host: string) => {
      const client = new Redis({
        host,
        port: 6379,
        password: PASSWORD,
        maxRetriesPerRequest: 1,
        commandTimeout: 20_000,
      });
      client.on("error", () => undefined);
      return client;
    };
    let client = connect(this.first);
    let onWest = false;
    let lastAck = performance.now();
    let n = 0;
    try {
      while (!this.stopped) {
        const key = `${this.prefix}:${n++}`;
        try {
          await client.set(key, "1");
          const now = performance.now();
          this.longestGapMs = Math.max(this.longestGapMs, now - lastAck);
          lastAck = now;
          this.acknowledged.push(key);
        } catch (error) {
          if (String(error).includes("READONLY") && !onWest) {
            this.readOnlyAnswers++;
            client.disconnect();
            client = connect(this.second);
            onWest = true;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

async function lbIp(region: Region, service: string): Promise<string> {
  const args = ["get", "svc", service, "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"];
  return waitFor(async () => (await region.kubectl.ok(args)).stdout.trim() || undefined, {
    what: `${service}'s external IP`,
  });
}

interface Pair {
  region: Region;
  eastLb: string;
  westLb: string;
  writer: Writer;
  fullBefore: number;
}

/** Both clusters, west replicating from east, the writer running. */
async function startPair(range: number): Promise<Pair> {
  const region = await startRegion(range);
  const { kubectl } = region;
  await kubectl.applyPasswordSecret(NS, "redis-password", PASSWORD);
  await kubectl.apply([
    redisClusterManifest("redis-east", NS, eastSpec),
    externalService("redis-east"),
    externalService("redis-west"),
  ]);
  const view = region.view(NS);
  await untilCluster(
    view,
    "redis-east",
    "redis-east Ready",
    (c) => condition(c, "Ready")?.status === "True",
    90_000,
  );
  const eastLb = await lbIp(region, "redis-east-external");
  const westLb = await lbIp(region, "redis-west-external");
  await kubectl.apply([redisClusterManifest("redis-west", NS, westSpec(eastLb))]);
  await untilCluster(view, "redis-west", "redis-west replicating", replicating, 90_000);
  const writer = new Writer(eastLb, westLb);
  writer.start();
  await waitFor(() => writer.acknowledged.length > 200, { what: "the writer writing", timeoutMs: 20_000 });
  await everyPodHolds(view, westPods, PASSWORD, writer.acknowledged.slice(0, 200));
  return { region, eastLb, westLb, writer, fullBefore: await fullSyncsServed(view, allPods, PASSWORD) };
}

const westSpec = (eastLb: string) =>
  replicaSpec(3, "redis-password", {
    host: eastLb,
    clusterName: "redis-east",
    authSecretName: "redis-password",
  });

const westHandoff = (pair: Pair) => {
  const spec = westSpec(pair.eastLb);
  const replicaMode = spec["replicaMode"] as Record<string, unknown>;
  return redisClusterManifest("redis-west", NS, {
    ...spec,
    replicaMode: {
      ...replicaMode,
      promote: true,
      promoteBy: "Handoff",
      handoffAddress: { host: pair.westLb, port: 6379 },
    },
  });
};

const eastJoin = (pair: Pair, extra: Record<string, unknown> = {}) =>
  redisClusterManifest("redis-east", NS, {
    ...eastSpec,
    replicaMode: {
      enabled: true,
      source: { host: pair.westLb, port: 6379, clusterName: "redis-west", authSecretName: "redis-password" },
      joinBy: "Handoff",
      ...extra,
    },
  });

const awaitingHandoff = (cluster: RedisCluster) => cluster.status?.promotion?.phase === "AwaitingHandoff";

/** Which way the primary role moves: from `from` (the old primary) to `to`, reached at `toLb`. */
interface Direction {
  readonly from: string;
  readonly to: string;
  readonly toLb: string;
}

/** What both regions must show once `to` is the primary and `from` its replica. */
async function assertSwitchedOver(
  pair: Pair,
  t: { diagnostic(message: string): void },
  { from, to, toLb }: Direction,
): Promise<void> {
  const view = pair.region.view(NS);
  const old = await untilCluster(
    view,
    from,
    `${from} replicating from ${to}`,
    (c) => c.status?.switchover?.phase === "Completed" && replicating(c),
    60_000,
  );
  const promoted = await untilCluster(view, to, `${to} promoted`, promotionCompleted, 60_000);
  await waitFor(() => pair.writer.readOnlyAnswers > 0, {
    what: `the writer moved to ${to}`,
    timeoutMs: 10_000,
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  await pair.writer.stop();
  const keys = pair.writer.acknowledged;
  t.diagnostic(
    `${from} -> ${to}: ${keys.length} acknowledged writes, longest gap between two ` +
      `${Math.round(pair.writer.longestGapMs)} ms; status.switchover.pausedMs ${old.status?.switchover?.pausedMs}`,
  );
  await everyPodHolds(view, allPods, PASSWORD, keys, 30_000);
  assert.equal(await fullSyncsServed(view, allPods, PASSWORD), pair.fullBefore);
  const switchover = old.status?.switchover;
  assert.equal(typeof switchover?.pausedMs, "number");
  assert.match(switchover?.newPrimaryReplicationId ?? "", /^[0-9a-f]{40}$/);
  assert.equal(
    switchover?.message,
    `${from}-0 handed the primary role over to ${to} and follows it; writes were held ${switchover?.pausedMs} ms`,
  );
  const pick = (c: RedisCluster, type: string) => {
    const found = condition(c, type);
    return found === undefined
      ? undefined
      : { status: found.status, reason: found.reason, message: found.message };
  };
  assert.deepEqual(pick(old, "Switchover"), {
    status: "True",
    reason: "Completed",
    message: switchover?.message,
  });
  assert.deepEqual(pick(old, "ReplicaMode"), {
    status: "True",
    reason: "Enabled",
    message: `Cluster is replicating from ${to} (${toLb}:6379)`,
  });
  const promotion = promoted.status?.promotion;
  assert.deepEqual(
    {
      phase: promotion?.phase,
      via: promotion?.via,
      lag: promotion?.lagAtPromotionBytes,
      former: promotion?.formerSource,
    },
    { phase: "Completed", via: "Handoff", lag: 0, former: from },
  );
  assert.equal(promotion?.replicationId, switchover?.newPrimaryReplicationId);
  assert.deepEqual(pick(promoted, "ReplicaMode"), {
    status: "False",
    reason: "Promoted",
    message: `Cluster promoted to standalone (former source: ${from})`,
  });
  for (const pod of podNames(from, 3)) {
    const info = await redisCliInfo(pair.region.sb, pod, NS, "replication");
    assert.deepEqual(
      { role: info["role"], host: info["master_host"], link: info["master_link_status"] },
      { role: "slave", host: toLb, link: "up" },
      pod,
    );
  }
  const leader = await redisCliInfo(pair.region.sb, `${to}-0`, NS, "replication");
  assert.deepEqual(
    { role: leader["role"], replicas: leader["connected_slaves"] },
    { role: "master", replicas: "5" },
  );
}

describe("switchover: west's change first; a hung target times out and changes nothing; a new attempt hands over; and back", () => {
  let pair: Pair | undefined;
  let paused = false;
  after(async () => {
    if (paused) pair?.region.sb.resumePod("redis-west-0", NS);
    await pair?.writer.stop();
    await pair?.region.stop();
  });

  it("redis-west awaits the hand-off, still replicating, announced at redis-west-external's address", async () => {
    pair = await startPair(98);
    const view = pair.region.view(NS);
    await pair.region.kubectl.apply([westHandoff(pair)]);
    const west = await untilCluster(
      view,
      "redis-west",
      "redis-west awaiting the hand-off",
      awaitingHandoff,
      60_000,
    );
    assert.equal(
      west.status?.promotion?.message,
      `waiting for redis-east to hand over; the leader is listed to it as ${pair.westLb}:6379`,
    );
    assert.equal(condition(west, "ReplicaMode")?.reason, "Enabled");
    const east0 = await redisCliInfo(pair.region.sb, "redis-east-0", NS, "replication");
    await waitFor(
      async () =>
        Object.values(await redisCliInfo(pair!.region.sb, "redis-east-0", NS, "replication")).some((v) =>
          v.startsWith(`ip=${pair!.westLb},port=6379,state=online`),
        ),
      { what: "redis-west-0 listed on redis-east-0 at the hand-off address", timeoutMs: 20_000 },
    );
    assert.equal(east0["role"], "master");
  });

  it("with redis-west-0 hung, redis-east's hand-off times out: nothing changes and status says why", async () => {
    const p = pair!;
    const view = p.region.view(NS);
    p.region.sb.pausePod("redis-west-0", NS);
    paused = true;
    const run = await p.region.kubectl.apply([eastJoin(p, { handoffTimeoutSeconds: 1 })]);
    assert.match(
      run.stderr,
      new RegExp(
        `Warning: spec\\.replicaMode\\.joinBy: the primary role will be handed over to redis-west \\(${p.westLb.replaceAll(".", "\\.")}:6379\\); writes pause up to 1s`,
      ),
    );
    const east = await untilCluster(
      view,
      "redis-east",
      "the hand-off failed",
      (c) =>
        c.status?.switchover?.phase === "Failed" && condition(c, "ReplicaMode")?.reason === "HandoffPending",
      60_000,
    );
    const switchover = east.status?.switchover;
    assert.equal(switchover?.attempt, 0);
    assert.match(
      switchover?.message ?? "",
      new RegExp(
        `^${p.westLb.replaceAll(".", "\\.")}:6379 did not reach offset \\d+ within 1000 ms \\(it acknowledged \\d+\\); nothing changed: redis-east-0 is still the primary; change spec\\.replicaMode\\.handoffAttempt to try again$`,
      ),
    );
    assert.deepEqual(
      { status: condition(east, "Switchover")?.status, reason: condition(east, "Switchover")?.reason },
      { status: "False", reason: "TimedOut" },
    );
    assert.equal(condition(east, "ReplicaMode")?.reason, "HandoffPending");
    const info = await redisCliInfo(p.region.sb, "redis-east-0", NS, "replication");
    assert.equal(info["role"], "master");
    const before = p.writer.acknowledged.length;
    await waitFor(() => p.writer.acknowledged.length > before + 50, {
      what: "writes acknowledged by redis-east",
      timeoutMs: 10_000,
    });
    assert.equal(p.writer.readOnlyAnswers, 0);
    // No automatic retry: the same attempt stays failed.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal((await view.cluster("redis-east")).status?.switchover?.message, switchover?.message);
    p.region.sb.resumePod("redis-west-0", NS);
    paused = false;
    await untilCluster(view, "redis-west", "redis-west replicating again", replicating, 30_000);
    assert.equal((await redisCliInfo(p.region.sb, "redis-west-0", NS, "replication"))["role"], "slave");
  });

  it("a new handoffAttempt hands over: every acknowledged write kept, no full resync, east follows west", async (t) => {
    const p = pair!;
    // The pause of the timed-out attempt (up to its 1 s timeout) is not this attempt's.
    p.writer.longestGapMs = 0;
    await p.region.kubectl.apply([eastJoin(p, { handoffTimeoutSeconds: 10, handoffAttempt: 1 })]);
    await assertSwitchedOver(p, t, { from: "redis-east", to: "redis-west", toLb: p.westLb });
    assert.equal((await p.region.view(NS).cluster("redis-east")).status?.switchover?.attempt, 1);
  });

  it("and back: redis-east takes the role back by hand-off, redis-west joins with its token; nothing discarded", async (t) => {
    const p = pair!;
    const view = p.region.view(NS);
    const token = (await view.cluster("redis-west")).status?.promotion?.replicationId ?? "";
    p.writer = new Writer(p.westLb, p.eastLb, "back");
    p.writer.start();
    await waitFor(() => p.writer.acknowledged.length > 100, {
      what: "the writer writing to redis-west",
      timeoutMs: 20_000,
    });
    p.fullBefore = await fullSyncsServed(view, allPods, PASSWORD);
    await p.region.kubectl.apply([
      redisClusterManifest("redis-east", NS, {
        ...eastSpec,
        replicaMode: {
          enabled: true,
          source: { host: p.westLb, port: 6379, clusterName: "redis-west", authSecretName: "redis-password" },
          promote: true,
          promoteBy: "Handoff",
          handoffAddress: { host: p.eastLb, port: 6379 },
        },
      }),
    ]);
    await untilCluster(view, "redis-east", "redis-east awaiting the hand-off", awaitingHandoff, 60_000);
    const run = await p.region.kubectl.apply([
      redisClusterManifest("redis-west", NS, {
        ...westSpec(p.eastLb),
        replicaMode: {
          ...(westSpec(p.eastLb)["replicaMode"] as Record<string, unknown>),
          joinBy: "Handoff",
          demotionToken: token,
        },
      }),
    ]);
    assert.match(
      run.stderr,
      /Warning: spec\.replicaMode\.joinBy: the primary role will be handed over to redis-east/,
    );
    await assertSwitchedOver(p, t, { from: "redis-west", to: "redis-east", toLb: p.eastLb });
    const west = await untilCluster(
      view,
      "redis-west",
      "redis-west's demotion complete",
      (c) => c.status?.lastDemotion?.completedAt !== undefined,
      30_000,
    );
    assert.deepEqual(
      [
        west.status?.promotion,
        west.status?.lastDemotion?.replicationId,
        west.status?.lastDemotion?.discardedBytes,
      ],
      [undefined, token, 0],
    );
  });
});

describe("switchover: east's change first waits without pausing writes, then hands over once west is ready", () => {
  let pair: Pair | undefined;
  after(async () => {
    await pair?.writer.stop();
    await pair?.region.stop();
  });

  it("redis-east waits for redis-west to be listed, as a primary taking writes", async () => {
    pair = await startPair(99);
    const p = pair;
    const view = p.region.view(NS);
    await p.region.kubectl.apply([eastJoin(p)]);
    const east = await untilCluster(
      view,
      "redis-east",
      "redis-east waiting",
      (c) => c.status?.switchover?.phase === "WaitingForTarget",
      30_000,
    );
    assert.match(
      east.status?.switchover?.message ?? "",
      new RegExp(
        `^waiting for redis-west \\(${p.westLb.replaceAll(".", "\\.")}:6379\\): ${p.westLb.replaceAll(".", "\\.")}:6379 is not listed as a replica of the old primary \\(listed: .*redis-west-0\\.dr-replica\\.invalid:6379.*\\); the target must announce that address`,
      ),
    );
    assert.deepEqual(
      { status: condition(east, "Switchover")?.status, reason: condition(east, "Switchover")?.reason },
      { status: "False", reason: "WaitingForTarget" },
    );
    const before = p.writer.acknowledged.length;
    await waitFor(() => p.writer.acknowledged.length > before + 50, {
      what: "writes acknowledged by redis-east",
      timeoutMs: 10_000,
    });
    assert.equal((await redisCliInfo(p.region.sb, "redis-east-0", NS, "replication"))["role"], "master");
  });

  it("redis-west's change lets the hand-off happen: every acknowledged write kept, no full resync", async (t) => {
    const p = pair!;
    await p.region.kubectl.apply([westHandoff(p)]);
    await assertSwitchedOver(p, t, { from: "redis-east", to: "redis-west", toLb: p.westLb });
  });
});
