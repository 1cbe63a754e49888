/**
 * `npm run demo`: a narrated DR drill on the local sandbox, end to end, with real kubectl, the real webhook
 * and controller, and real redis-server pods.
 *
 *   npm run demo                          the drill, then a summary of measured figures
 *   npm run demo -- --timeline out.svg    also writes the drill's timeline (lag, link state, roles) as SVG
 *   npm run demo -- --control-plane real  the same drill on a real control plane (kube-apiserver, etcd, … built
 *                                         from upstream, hack/k8s), redis-dr installed from manifests/
 *
 * One sandbox plays both regions of the reference's cross-region example: namespace us-east is us-east-1
 * (redis-east, the primary) and us-west is us-west-2 (redis-west, the DR cluster). The wide-area network
 * between them is a TCP proxy per direction in front of each region's LoadBalancer address, so the drill can
 * cut the regions apart. It exits non-zero as soon as something it checks does not hold, and stops every
 * process it started — also on Ctrl-C.
 */
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { inPrivateNetworkNamespace, runInsideNetns } from "../k8s/netns.ts";
import { startTestCluster, type Backend } from "../k8s/testing.ts";
import { waitFor, type TestCluster } from "../sandbox/testing.ts";
import { Kubectl } from "./lib/kubectl.ts";
import { RegionLink } from "./lib/link.ts";
import { startWriteLoad, type WriteLoad } from "./lib/load.ts";
import { Narrator } from "./lib/narrator.ts";
import {
  RegionView,
  condition,
  controllerMetrics,
  metricValue,
  missing,
  parseInfo,
  redisClient,
} from "./lib/observe.ts";
import { exampleManifest, inNamespace, withSource, withSpec } from "./lib/regions.ts";
import { renderTimelineSvg, type LinkState, type Role, type TimelineSample } from "./lib/timeline.ts";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";

const RANGE = 30;
const EAST = "us-east";
const WEST = "us-west";
const INSTANCES = 3;
const SEED_KEYS = 5000;
const STEPS = 13;

const { values: options } = parseArgs({
  options: {
    timeline: { type: "string" },
    "control-plane": { type: "string", default: "sandbox" },
    help: { type: "boolean", short: "h" },
  },
});
if (options.help === true) {
  process.stdout.write("usage: npm run demo [-- --timeline PATH.svg] [--control-plane sandbox|real]\n");
  process.exit(0);
}
const controlPlane: Backend = ((value: string) => {
  if (value === "sandbox" || value === "real") return value;
  process.stderr.write(`--control-plane must be sandbox or real, not ${value}\n`);
  process.exit(2);
})(options["control-plane"]);
// The real control plane runs in a network namespace of its own: build it, then run the demo again there.
if (controlPlane === "real" && !inPrivateNetworkNamespace()) process.exit(await runInsideNetns());

/**
 * The wide-area network: west → east and east → west, outside the clusters' address pools (on the
 * sandbox's loopback range, or in the real cluster's network namespace).
 */
const WAN_NET = controlPlane === "real" ? 10 : 127;
const WAN_TO_EAST = { host: `${WAN_NET}.${RANGE}.240.1`, port: 6379 };
const WAN_TO_WEST = { host: `${WAN_NET}.${RANGE}.240.2`, port: 6379 };

const say = new Narrator(STEPS);
const password = randomBytes(18).toString("base64url");
const figures = {
  firstFullSyncMs: 0,
  lagSamples: [] as number[],
  promotionToWritableMs: [] as { what: string; ms: number }[],
  fullResyncsDuringPromotion: 0,
  keysAcknowledged: 0,
  keyChecks: 0,
  keysLost: 0,
};
const samples: TimelineSample[] = [];

// Everything that must be stopped, in reverse order of creation.
let sandbox: TestCluster | undefined;
const links: RegionLink[] = [];
const loads: WriteLoad[] = [];
let sampling = false;
let sampler: Promise<void> = Promise.resolve();
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    sampling = false;
    await sampler.catch(() => undefined);
    for (const load of loads) await load.stop().catch(() => undefined);
    for (const link of links) await link.stop().catch(() => undefined);
    await sandbox?.stop().catch((error: unknown) => say.fail(`stopping the sandbox: ${String(error)}`));
  })();
  return cleaning;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  // `on`, not `once`: Ctrl-C reaches the demo twice (from the terminal and relayed by npm/tsx), and a second,
  // unhandled SIGINT would end the process before the cleanup finished.
  process.on(signal, () => {
    if (cleaning !== undefined) return;
    say.fail(`${signal}: stopping every process the demo started`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** A check of the drill: fails the demo with `what` unless `holds`. */
function expect(holds: boolean, what: string): void {
  if (!holds) throw new Error(what);
}

const until = <T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> => waitFor(check, { what, timeoutMs, intervalMs: 100 });

async function main(): Promise<void> {
  // ------------------------------------------------------------------ 1
  say.step(
    "Start the sandbox: API server, the admission webhook, the controller",
    `One sandbox plays both regions: namespace ${EAST} is us-east-1, ${WEST} is us-west-2; the network between them is a TCP proxy per direction.`,
  );
  sandbox = await startTestCluster({
    backend: controlPlane,
    range: RANGE,
    webhook: true,
    controller: true,
    operatorEnv: { RESYNC_SECONDS: "1" },
  });
  const sb = sandbox;
  const kubectl = new Kubectl(sb.kubeconfigPath, sb.kubectlBinary);
  // The webhook says ready a moment before its admission port listens: wait until it admits a dry run.
  const probe = {
    apiVersion: "redis.io/v1",
    kind: "RedisCluster",
    metadata: { name: "probe", namespace: "default" },
    spec: { instances: 1 },
  };
  await until(
    "the webhook admitting requests",
    async () =>
      (await kubectl.run(["apply", "--dry-run=server", "-f", "-"], JSON.stringify(probe))).code === 0,
  );
  const east = new RegionView(sb, EAST);
  const west = new RegionView(sb, WEST);
  say.observe(
    `API server ${sb.kubeConfig.getCurrentCluster()?.server ?? ""}; kubeconfig ${sb.kubeconfigPath}`,
  );
  say.note(
    `Try it yourself while the demo runs: kubectl --kubeconfig ${sb.kubeconfigPath} get redisclusters -A`,
  );

  // ------------------------------------------------------------------ 2
  say.step(
    "us-east: the primary cluster redis-east and its LoadBalancer",
    "manifests/examples/cross-region/redis-east.yaml, 3 instances instead of 5.",
  );
  say.note(
    "redis-east runs in sentinel mode, as in the reference: Sentinel manages failover inside us-east-1.",
  );
  for (const ns of [EAST, WEST]) {
    say.command(["apply", "-f", "-"], `Namespace ${ns}`);
    await kubectl.applyNamespace(ns);
  }
  say.command(["-n", EAST, "apply", "-f", "-"], "Secret redis-password, the password on stdin");
  await kubectl.applyPasswordSecret(EAST, "redis-password", password);
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
  const toEast = new RegionLink(WAN_TO_EAST.host, WAN_TO_EAST.port, { host: eastLb, port: 6379 });
  links.push(toEast);
  await toEast.start();
  say.command(["-n", EAST, "get", "redisclusters"]);
  say.output((await kubectl.ok(["-n", EAST, "get", "redisclusters"])).stdout);
  say.observe(
    `redis-east is Ready; redis-east-external has LoadBalancer IP ${eastLb}, reached from us-west-2 as ${WAN_TO_EAST.host} across the WAN`,
  );
  startSampling(east, west, toEast);

  // ------------------------------------------------------------------ 3
  say.step(
    `The application writes ${SEED_KEYS} keys to redis-east`,
    "Through the redis-east-leader Service, as an application in us-east-1 would.",
  );
  const eastLeader = serviceAddress(sb, "redis-east-leader", EAST);
  let retries = 0;
  const seedKeys = Array.from({ length: SEED_KEYS }, (_, k) => `seed:${k}`);
  // minSyncReplicas: 1 — until a replica is attached the primary answers NOREPLICAS, and the application retries.
  const refusals = await until("redis-east accepting the writes", async () => {
    const app = redisClient(eastLeader, 6379, password);
    try {
      const pipeline = app.pipeline();
      for (const key of seedKeys) pipeline.set(key, `value-of-${key}`);
      const results = (await pipeline.exec()) ?? [];
      return results.every(([error]) => error === null) ? String(retries) : (retries++, false);
    } finally {
      app.disconnect();
    }
  });
  say.observe(
    `${SEED_KEYS} keys acknowledged by redis-east (${eastLeader}) after ${refusals} refused attempt(s)`,
  );

  // ------------------------------------------------------------------ 4
  say.step(
    "us-west: the DR cluster redis-west in replica mode",
    "manifests/examples/cross-region/redis-west.yaml: replicates from redis-east's LoadBalancer address across the WAN.",
  );
  say.command(["-n", WEST, "apply", "-f", "-"], "Secret redis-password: the same password as us-east");
  await kubectl.applyPasswordSecret(WEST, "redis-password", password);
  const redisWest = inNamespace(
    withSource(
      withSpec(exampleManifest("cross-region/redis-west.yaml"), { instances: INSTANCES }),
      WAN_TO_EAST.host,
      WAN_TO_EAST.port,
    ),
    WEST,
  );
  say.command(["apply", "-f", "redis-west.yaml"], `source.host ${WAN_TO_EAST.host}`);
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
  figures.firstFullSyncMs = Date.now() - applied;
  say.observe(
    `first full sync done ${(figures.firstFullSyncMs / 1000).toFixed(1)}s after the apply (pods started, ${SEED_KEYS} keys copied)`,
  );
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
      info["master_host"] === WAN_TO_EAST.host,
    "redis-west-0 does not replicate from redis-east",
  );
  const replicating = await until("the ReplicaMode condition", async () => {
    const c = await west.cluster("redis-west");
    return condition(c, "ReplicaMode")?.reason === "Enabled" ? c : undefined;
  });
  say.observe(
    `ReplicaMode ${condition(replicating, "ReplicaMode")?.status}/${condition(replicating, "ReplicaMode")?.reason}: "${condition(replicating, "ReplicaMode")?.message}"`,
  );

  // ------------------------------------------------------------------ 5
  say.step(
    "Writes under load: replication lag",
    "The application writes continuously for 4 s; we sample the DR leader's lag against redis-east's own offset.",
  );
  const load = startWriteLoad({ host: eastLeader, password, prefix: "load", batch: 50, pauseMs: 5 });
  loads.push(load);
  const loadStarted = say.elapsedMs();
  await new Promise((resolve) => setTimeout(resolve, 4000));
  let metricLag: number | undefined;
  let statusLag: number | undefined;
  try {
    metricLag = metricValue(await controllerMetrics(sb), "redis_replication_lag_bytes", {
      namespace: WEST,
      cluster: "redis-west",
      pod: "redis-west-0",
    });
    statusLag = (await west.cluster("redis-west")).status?.replication?.lagBytes;
  } catch {
    // Shown as "not reported" below.
  }
  await load.stop();
  loads.splice(loads.indexOf(load), 1);
  figures.lagSamples = samples
    .filter((s) => s.atMs >= loadStarted && s.lagBytes !== undefined)
    .map((s) => s.lagBytes ?? 0);
  expect(load.failures === 0, `${load.failures} writes failed under load`);
  say.observe(
    `${load.acknowledged.length} writes acknowledged; lag samples (bytes): ${figures.lagSamples.slice(0, 16).join(", ")}${figures.lagSamples.length > 16 ? ", …" : ""}`,
  );
  say.observe(
    `while loaded the controller reported status.replication.lagBytes=${statusLag ?? "not reported"}, redis_replication_lag_bytes{pod="redis-west-0"}=${metricLag ?? "not reported"}`,
  );
  await until("the lag back to 0 once the load stops", async () => {
    const lag = samples.at(-1)?.lagBytes;
    return lag === 0;
  });
  const acknowledgedOnEast = [...seedKeys, ...load.acknowledged];
  await until(
    "every acknowledged key on redis-west-0",
    async () => missing(acknowledgedOnEast, await west.keys("redis-west-0", password)).length === 0,
  );
  say.observe(`lag back to 0; all ${acknowledgedOnEast.length} acknowledged keys are on redis-west-0`);

  // ------------------------------------------------------------------ 6
  say.step("An invalid apply is refused", "The same manifest with source port 70000.");
  const invalid = withSource(redisWest, WAN_TO_EAST.host, 70000);
  say.command(["apply", "-f", "redis-west.yaml"], "source.port 70000");
  const refusal = await kubectl.refused(["apply", "-f", "-"], JSON.stringify(invalid));
  say.output(refusal);
  expect(
    /spec\.replicaMode\.source\.port: Invalid value: 70000/.test(refusal),
    "the refusal does not name spec.replicaMode.source.port",
  );
  say.observe("refused with the field error; redis-west is unchanged");

  // ------------------------------------------------------------------ 7
  say.step(
    "DR drill: promote redis-west",
    "The reference's drill: kubectl patch … promote: true. Measured: request to the first accepted write on redis-west-leader.",
  );
  const westPods = podNames("redis-west");
  const promote = promotePatch(WEST, "redis-west");
  const {
    ms: promotedIn,
    cluster: promoted,
    resyncs,
  } = await promoteMeasured("drill", west, "redis-west", promote);
  say.observe(
    `redis-west-leader accepted a write ${promotedIn} ms after the patch; ReplicaMode False/Promoted: "${condition(promoted, "ReplicaMode")?.message}"`,
  );
  say.observe(`full resyncs during the promotion (INFO stats sync_full on redis-west-0..2): ${resyncs}`);
  await checkKeys(west, westPods, acknowledgedOnEast, "after the drill's promotion");

  // ------------------------------------------------------------------ 8
  say.step(
    "Smoke test on the promoted DR cluster",
    "Write through redis-west-leader, read back from a replica.",
  );
  const westLeader = serviceAddress(sb, "redis-west-leader", WEST);
  await withClient(westLeader, (c) => c.set("drill:smoke", "written during the drill"));
  await until(
    "the smoke-test key on redis-west-1",
    async () =>
      (await west.onPod("redis-west-1", password, (c) => c.get("drill:smoke"))) ===
      "written during the drill",
  );
  say.observe("SET drill:smoke on redis-west-leader, GET on redis-west-1: same value");

  // ------------------------------------------------------------------ 9
  say.step(
    "End of the drill: a naive revert is refused, the confirmed demotion goes through",
    "The reference's demote command would silently discard every write since the promotion.",
  );
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
  say.command(naive);
  const denied = await kubectl.refused(naive);
  say.output(denied);
  const suggested = /kubectl patch rediscluster (\S+) -n (\S+) --type=merge -p '([^']+)'/.exec(denied);
  expect(suggested !== null, "the refusal does not give the command with the demotion token");
  const token = promoted.status?.promotion?.replicationId ?? "";
  expect(
    suggested?.[3]?.includes(token) === true && token !== "",
    "the suggested command does not carry status.promotion.replicationId",
  );
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
  const demotion = await kubectl.ok(confirmed);
  say.output(demotion.stderr + demotion.stdout);
  await until(
    "redis-west demoted and in sync with redis-east again",
    async () => {
      const c = await west.cluster("redis-west");
      return (
        c.status?.lastDemotion?.completedAt !== undefined &&
        c.status.replication?.linkStatus === "Up" &&
        samples.at(-1)?.lagBytes === 0
      );
    },
    60_000,
  );
  await checkKeys(west, westPods, acknowledgedOnEast, "after the demotion");
  const smokeGone = (await west.onPod("redis-west-0", password, (c) => c.exists("drill:smoke"))) === 0;
  expect(smokeGone, "the drill's write survived the demotion");
  const demoted = await west.cluster("redis-west");
  say.observe(
    `demoted: replicating from redis-east again; the drill's ${demoted.status?.lastDemotion?.discardedBytes ?? "?"} bytes of writes discarded, as the token confirmed`,
  );

  // ------------------------------------------------------------------ 10
  say.step(
    "Region outage: us-east-1 becomes unreachable",
    "The last writes reach us-west-2, then the WAN is cut.",
  );
  const lastWrites = Array.from({ length: 200 }, (_, i) => `before-outage:${i}`);
  await withClient(eastLeader, async (c) => {
    const pipeline = c.pipeline();
    for (const key of lastWrites) pipeline.set(key, "1");
    await pipeline.exec();
  });
  const replicatedBeforeOutage = [...acknowledgedOnEast, ...lastWrites];
  await until(
    "the last writes on redis-west-0",
    async () =>
      missing(lastWrites, await west.keys("redis-west-0", password, "before-outage:*")).length === 0,
  );
  toEast.cut();
  say.note(`(the TCP proxy ${WAN_TO_EAST.host} → ${eastLb} drops every connection)`);
  const down = await until("ReplicationHealthy False/LinkDown", async () => {
    const c = await west.cluster("redis-west");
    return condition(c, "ReplicationHealthy")?.reason === "LinkDown" ? c : undefined;
  });
  say.command(["-n", WEST, "get", "rediscluster", "redis-west"]);
  say.output((await kubectl.ok(["-n", WEST, "get", "rediscluster", "redis-west"])).stdout);
  say.observe(`ReplicationHealthy False/LinkDown: "${condition(down, "ReplicationHealthy")?.message}"`);
  const linkUp = await until("redis_master_link_up 0", async () => {
    const v = metricValue(await controllerMetrics(sb), "redis_master_link_up", {
      namespace: WEST,
      cluster: "redis-west",
      pod: "redis-west-0",
    });
    return v === 0 ? "0" : undefined;
  });
  const linkDownEvent = await until("a LinkDown Event", async () =>
    (await west.events("redis-west")).find((e) => e.reason === "LinkDown"),
  );
  say.observe(
    `redis_master_link_up{pod="redis-west-0"} ${linkUp}; Event ${linkDownEvent.type}/${linkDownEvent.reason}: "${linkDownEvent.message}"`,
  );

  // ------------------------------------------------------------------ 11
  say.step(
    "Failover: promote redis-west during the outage",
    "A human decision: the operator never promotes by itself.",
  );
  const { ms: failoverIn, resyncs: failoverResyncs } = await promoteMeasured(
    "failover",
    west,
    "redis-west",
    promote,
  );
  await checkKeys(west, westPods, replicatedBeforeOutage, "after the failover");
  const westWrites = Array.from({ length: 500 }, (_, i) => `after-failover:${i}`);
  await withClient(westLeader, async (c) => {
    const pipeline = c.pipeline();
    for (const key of westWrites) pipeline.set(key, "1");
    const results = (await pipeline.exec()) ?? [];
    expect(
      results.every(([error]) => error === null),
      "redis-west refused a write after the failover",
    );
  });
  say.observe(
    `writable ${failoverIn} ms after the patch; full resyncs: ${failoverResyncs}; the application now writes to redis-west-leader (${westWrites.length} keys)`,
  );

  // ------------------------------------------------------------------ 12
  say.step(
    "us-east-1 is back: recover the primary region",
    "manifests/examples/cross-region/redis-east-failback.yaml: redis-east now replicates FROM redis-west.",
  );
  const westExternal = inNamespace(exampleManifest("cross-region/redis-west-external.yaml"), WEST);
  say.command(["apply", "-f", "redis-west-external.yaml"]);
  await kubectl.apply([westExternal]);
  const westLb = await until("redis-west-external's LoadBalancer IP", async () =>
    sb.loadBalancerIP("redis-west-external", WEST),
  );
  const toWest = new RegionLink(WAN_TO_WEST.host, WAN_TO_WEST.port, { host: westLb, port: 6379 });
  links.push(toWest);
  await toWest.start();
  toEast.heal();
  const eastFailback = inNamespace(
    withSource(
      withSpec(exampleManifest("cross-region/redis-east-failback.yaml"), {
        instances: INSTANCES,
      }),
      WAN_TO_WEST.host,
      WAN_TO_WEST.port,
    ),
    EAST,
  );
  say.command(["apply", "-f", "redis-east-failback.yaml"], `source.host ${WAN_TO_WEST.host}`);
  const failback = await kubectl.apply([eastFailback]);
  say.output(failback.stderr + failback.stdout);
  const everything = [...replicatedBeforeOutage, ...westWrites];
  await until(
    "redis-east replicating from redis-west, in sync",
    async () => {
      const c = await east.cluster("redis-east");
      if (c.status?.replication?.linkStatus !== "Up") return false;
      return missing(westWrites, await east.keys("redis-east-0", password, "after-failover:*")).length === 0;
    },
    60_000,
  );
  await checkKeys(east, podNames("redis-east"), everything, "on redis-east after the recovery");
  say.observe(
    `ReplicaMode on redis-east: "${condition(await east.cluster("redis-east"), "ReplicaMode")?.message}"`,
  );

  // ------------------------------------------------------------------ 13
  say.step(
    "Fail back: promote redis-east, demote redis-west with its token",
    "Planned: no writes in flight, redis-east in sync; then us-west-2 becomes the DR region again.",
  );
  const eastPods = podNames("redis-east");
  const { ms: failbackIn } = await promoteMeasured(
    "failback",
    east,
    "redis-east",
    promotePatch(EAST, "redis-east"),
  );
  const westToken = (await west.cluster("redis-west")).status?.promotion?.replicationId ?? "";
  const demoteWest = [
    "-n",
    WEST,
    "patch",
    "rediscluster",
    "redis-west",
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { replicaMode: { promote: false, demotionToken: westToken } } }),
  ];
  say.command(demoteWest);
  await kubectl.ok(demoteWest);
  await until(
    "redis-west replicating from redis-east again",
    async () => {
      const c = await west.cluster("redis-west");
      return (
        c.status?.lastDemotion?.replicationId === westToken &&
        c.status.lastDemotion.completedAt !== undefined &&
        c.status.replication?.linkStatus === "Up"
      );
    },
    60_000,
  );
  await withClient(eastLeader, (c) => c.set("after-failback", "1"));
  await until(
    "a write on redis-east reaching redis-west",
    async () => (await west.onPod("redis-west-0", password, (c) => c.get("after-failback"))) === "1",
  );
  await checkKeys(east, eastPods, everything, "on redis-east after the failback");
  await checkKeys(west, westPods, everything, "on redis-west after the failback");
  say.observe(
    `redis-east writable ${failbackIn} ms after its promotion; redis-west replicates from it again; no key lost`,
  );
  say.command(["get", "redisclusters", "-A"]);
  say.output((await kubectl.ok(["get", "redisclusters", "-A"])).stdout);

  // ------------------------------------------------------------------ helpers bound to this run

  function podNames(cluster: string): string[] {
    return Array.from({ length: INSTANCES }, (_, i) => `${cluster}-${i}`);
  }

  async function withClient<T>(
    host: string,
    run: (c: ReturnType<typeof redisClient>) => Promise<T>,
  ): Promise<T> {
    const client = redisClient(host, 6379, password);
    try {
      return await run(client);
    } finally {
      client.disconnect();
    }
  }

  async function checkKeys(
    region: RegionView,
    pods: string[],
    expected: readonly string[],
    when: string,
  ): Promise<void> {
    for (const pod of pods) {
      // Replicas may still be applying the stream: poll briefly, then count what is missing.
      let lost: string[] = [];
      try {
        await until(
          `${pod} holding every key`,
          async () => (lost = missing(expected, await region.keys(pod, password))).length === 0,
          15_000,
        );
      } catch {
        // Counted below.
      }
      figures.keyChecks++;
      figures.keysAcknowledged = Math.max(figures.keysAcknowledged, expected.length);
      figures.keysLost += lost.length;
      expect(
        lost.length === 0,
        `${pod} lost ${lost.length} keys ${when} (e.g. ${lost.slice(0, 3).join(", ")})`,
      );
    }
    say.observe(`all ${expected.length} keys present on ${pods.join(", ")} ${when}`);
  }

  /**
   * Sends the promotion patch and measures it: time until `<name>-leader` accepts a write, then waits for
   * the promotion to complete (ReplicaMode False/Promoted) and every replica to follow the leader, and
   * checks that no pod served a full resync meanwhile. Records the figures of the summary.
   */
  async function promoteMeasured(
    what: string,
    region: RegionView,
    name: string,
    args: string[],
  ): Promise<{ ms: number; cluster: RedisCluster; resyncs: number }> {
    const pods = podNames(name);
    const fullBefore = await fullSyncs(region, pods);
    const ms = await promoteAndMeasure(region, name, args);
    figures.promotionToWritableMs.push({ what, ms });
    const cluster = await until(`${name} promotion Completed`, async () => {
      const c = await region.cluster(name);
      return c.status?.promotion?.phase === "Completed" && condition(c, "ReplicaMode")?.reason === "Promoted"
        ? c
        : undefined;
    });
    await replicasAttached(region, `${name}-0`, INSTANCES - 1);
    const resyncs = (await fullSyncs(region, pods)) - fullBefore;
    figures.fullResyncsDuringPromotion += resyncs;
    expect(resyncs === 0, `${resyncs} full resyncs during the ${what}`);
    return { ms, cluster, resyncs };
  }

  async function promoteAndMeasure(region: RegionView, name: string, args: string[]): Promise<number> {
    const leader = serviceAddress(sb, `${name}-leader`, region.namespace);
    say.command(args);
    const started = Date.now();
    const run = await kubectl.ok(args);
    say.output(run.stderr + run.stdout);
    await until(
      `${name}-leader accepting writes`,
      async () => {
        const client = redisClient(leader, 6379, password);
        try {
          return (await client.set("promotion-probe", String(Date.now()))) === "OK";
        } catch {
          return false;
        } finally {
          client.disconnect();
        }
      },
      60_000,
    );
    return Date.now() - started;
  }

  async function replicasAttached(region: RegionView, leaderPod: string, count: number): Promise<void> {
    await until(`${count} replicas attached to ${leaderPod}`, async () => {
      const i = await region.info(leaderPod, password, "replication");
      if (Number(i["connected_slaves"]) !== count) return false;
      for (let n = 0; n < count; n++) if (!/state=online/.test(i[`slave${n}`] ?? "")) return false;
      return true;
    });
  }
}

/** The reference's promotion: `kubectl -n NS patch rediscluster NAME --type=merge -p '{…"promote":true…}'`. */
function promotePatch(namespace: string, name: string): string[] {
  return [
    "-n",
    namespace,
    "patch",
    "rediscluster",
    name,
    "--type=merge",
    "-p",
    '{"spec":{"replicaMode":{"promote":true}}}',
  ];
}

/** Full resyncs served so far by the cluster's pods (INFO stats sync_full, summed). */
async function fullSyncs(region: RegionView, pods: readonly string[]): Promise<number> {
  let total = 0;
  for (const pod of pods) total += Number((await region.info(pod, password, "stats"))["sync_full"] ?? 0);
  return total;
}

function serviceAddress(sb: TestCluster, service: string, namespace: string): string {
  const ip = sb.resolve(`${service}.${namespace}.svc.cluster.local`);
  if (ip === undefined) throw new Error(`Service ${namespace}/${service} has no address`);
  return ip;
}

/** Samples the DR picture every 200 ms for the timeline: lag against the source's own offset, link, roles. */
function startSampling(east: RegionView, west: RegionView, toEast: RegionLink): void {
  sampling = true;
  const started = Date.now() - say.elapsedMs();
  sampler = (async () => {
    while (sampling) {
      const [eastInfo, westInfo] = await Promise.all([
        east.info("redis-east-0", password, "replication").catch(() => undefined),
        west.info("redis-west-0", password, "replication").catch(() => undefined),
      ]);
      const role = (i: Record<string, string> | undefined): Role =>
        i === undefined ? "unknown" : i["role"] === "master" ? "primary" : "replica";
      // Whichever region replicates, its leader's lag against the other region's primary.
      const [replica, primary] =
        role(westInfo) === "replica"
          ? [westInfo, eastInfo]
          : role(eastInfo) === "replica"
            ? [eastInfo, westInfo]
            : [undefined, undefined];
      let link: LinkState = "none";
      let lagBytes: number | undefined;
      if (replica !== undefined) {
        link =
          replica["master_sync_in_progress"] === "1"
            ? "syncing"
            : replica["master_link_status"] === "up"
              ? "up"
              : "down";
        if (link === "up" && primary !== undefined && (toEast.linkState === "open" || replica === eastInfo)) {
          lagBytes = Math.max(
            0,
            Number(primary["master_repl_offset"]) - Number(replica["master_repl_offset"]),
          );
        }
      }
      samples.push({
        atMs: Date.now() - started,
        lagBytes,
        link,
        roles: { "us-east": role(eastInfo), "us-west": role(westInfo) },
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
}

function summary(): void {
  const sorted = [...figures.lagSamples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const max = sorted.at(-1) ?? 0;
  const row = (label: string, value: string) => say.raw(`  ${label.padEnd(46)}${value}`);
  say.raw("");
  say.raw("Summary of the drill");
  row("time to first full sync (apply → in sync)", `${(figures.firstFullSyncMs / 1000).toFixed(1)} s`);
  row(`lag during load (${sorted.length} samples, bytes)`, `median ${median}, max ${max}`);
  for (const p of figures.promotionToWritableMs)
    row(`promotion request → writable (${p.what})`, `${p.ms} ms`);
  row("full resyncs during promotions (sync_full)", String(figures.fullResyncsDuringPromotion));
  row(
    "keys lost",
    `${figures.keysLost} of ${figures.keysAcknowledged} acknowledged (checked on every pod, ${figures.keyChecks} times)`,
  );
  row("total time", `${(say.elapsedMs() / 1000).toFixed(1)} s`);
}

function writeTimeline(): void {
  if (options.timeline === undefined) return;
  writeFileSync(
    options.timeline,
    renderTimelineSvg({
      title: "redis-dr drill: us-east-1 ⇄ us-west-2",
      samples,
      marks: say.marks,
      regions: ["us-east", "us-west"],
    }),
  );
  say.raw(`  ${"timeline".padEnd(46)}${options.timeline}`);
}

/** On failure the operator's logs outlive the sandbox, for whoever reads the failure. */
function keepLogs(): void {
  if (sandbox === undefined || !existsSync(join(sandbox.dir, "logs"))) return;
  const kept = mkdtempSync(join(tmpdir(), "redis-dr-demo-logs-"));
  cpSync(join(sandbox.dir, "logs"), kept, { recursive: true });
  say.note(`the webhook's and the controller's logs are kept in ${kept}`);
}

let exitCode = 0;
try {
  await main();
  summary();
  writeTimeline();
  say.raw("\nThe drill held: every step as expected.");
} catch (error) {
  exitCode = 1;
  say.fail(error instanceof Error ? error.message : String(error));
  keepLogs();
  writeTimeline();
} finally {
  await cleanup();
}
process.exit(exitCode);
