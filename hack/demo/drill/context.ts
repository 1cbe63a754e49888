/**
 * What the drill's scenes share: the sandbox and its regions, the figures of the summary, what one scene
 * hands the next (addresses, keys written), and the checks bound to this run.
 */
import type { Backend } from "../../k8s/testing.ts";
import { waitFor, type TestCluster } from "../../sandbox/testing.ts";
import type { Kubectl } from "../../lib/kubectl.ts";
import type { RegionLink } from "../../lib/link.ts";
import type { ManifestObject } from "../../lib/regions.ts";
import type { WriteLoad } from "../lib/load.ts";
import type { Narrator } from "../lib/narrator.ts";
import { RegionView, condition, missing, redisClient } from "../../lib/observe.ts";
import type { TimelineSample } from "../lib/timeline.ts";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";

export const RANGE = 30;
export const EAST = "us-east";
export const WEST = "us-west";
export const INSTANCES = 3;
export const SEED_KEYS = 5000;

/** One scene of the drill: a numbered step of the narration, run in order (see scenes/index.ts). */
export interface Scene {
  readonly name: string;
  /** Shown under the step's title: why the step is there, or where its manifest comes from. */
  readonly detail: string;
  run(ctx: DrillContext): Promise<void>;
}

/** A check of the drill: fails the demo with `what` unless `holds`. */
export function expect(holds: boolean, what: string): void {
  if (!holds) throw new Error(what);
}

export const until = <T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> => waitFor(check, { what, timeoutMs, intervalMs: 100 });

export function podNames(cluster: string): string[] {
  return Array.from({ length: INSTANCES }, (_, i) => `${cluster}-${i}`);
}

/** `kubectl -n NS patch rediscluster NAME --type=merge -p BODY`. */
export function mergePatch(namespace: string, name: string, body: unknown): string[] {
  return ["-n", namespace, "patch", "rediscluster", name, "--type=merge", "-p", JSON.stringify(body)];
}

/** The reference's promotion: `kubectl -n NS patch rediscluster NAME --type=merge -p '{…"promote":true…}'`. */
export const promotePatch = (namespace: string, name: string): string[] =>
  mergePatch(namespace, name, { spec: { replicaMode: { promote: true } } });

export function serviceAddress(sb: TestCluster, service: string, namespace: string): string {
  const ip = sb.resolve(`${service}.${namespace}.svc.cluster.local`);
  if (ip === undefined) throw new Error(`Service ${namespace}/${service} has no address`);
  return ip;
}

export interface Figures {
  firstFullSyncMs: number;
  lagSamples: number[];
  promotionToWritableMs: { what: string; ms: number }[];
  fullResyncsDuringPromotion: number;
  keysAcknowledged: number;
  keyChecks: number;
  keysLost: number;
}

/** What a scene hands the scenes after it. */
export interface DrillState {
  /** redis-east-external's LoadBalancer IP, and the WAN link to it. */
  eastLb?: string;
  toEast?: RegionLink;
  eastLeader?: string;
  westLeader?: string;
  seedKeys?: string[];
  /** The manifest of redis-west as applied. */
  redisWest?: ManifestObject;
  /** redis-west as its drill's promotion completed (its status carries the demotion token). */
  promoted?: RedisCluster;
  acknowledgedOnEast?: string[];
  replicatedBeforeOutage?: string[];
  westWrites?: string[];
  everything?: string[];
}

interface Regions {
  readonly sb: TestCluster;
  readonly kubectl: Kubectl;
  readonly east: RegionView;
  readonly west: RegionView;
}

export class DrillContext {
  readonly figures: Figures = {
    firstFullSyncMs: 0,
    lagSamples: [],
    promotionToWritableMs: [],
    fullResyncsDuringPromotion: 0,
    keysAcknowledged: 0,
    keyChecks: 0,
    keysLost: 0,
  };
  readonly samples: TimelineSample[] = [];
  readonly state: DrillState = {};
  // Everything that must be stopped, in reverse order of creation.
  sandbox: TestCluster | undefined;
  readonly links: RegionLink[] = [];
  readonly loads: WriteLoad[] = [];
  sampling = false;
  sampler: Promise<void> = Promise.resolve();
  private regions: Regions | undefined;

  constructor(
    readonly say: Narrator,
    readonly password: string,
    readonly controlPlane: Backend,
    /** The wide-area network: west → east and east → west, outside the clusters' address pools. */
    readonly wanToEast: { host: string; port: number },
    readonly wanToWest: { host: string; port: number },
  ) {}

  /** The sandbox is up: the scenes after the first reach it through sb, kubectl, east and west. */
  started(sb: TestCluster, kubectl: Kubectl): void {
    this.regions = { sb, kubectl, east: new RegionView(sb, EAST), west: new RegionView(sb, WEST) };
  }

  private get up(): Regions {
    if (this.regions === undefined) throw new Error("the sandbox is not started");
    return this.regions;
  }
  get sb(): TestCluster {
    return this.up.sb;
  }
  get kubectl(): Kubectl {
    return this.up.kubectl;
  }
  get east(): RegionView {
    return this.up.east;
  }
  get west(): RegionView {
    return this.up.west;
  }

  /** What an earlier scene handed on; throws if that scene has not run. */
  need<K extends keyof DrillState>(key: K): NonNullable<DrillState[K]> {
    const value = this.state[key];
    if (value === undefined) throw new Error(`no ${key} yet: the scenes ran out of order`);
    return value as NonNullable<DrillState[K]>;
  }

  async withClient<T>(host: string, run: (c: ReturnType<typeof redisClient>) => Promise<T>): Promise<T> {
    const client = redisClient(host, 6379, this.password);
    try {
      return await run(client);
    } finally {
      client.disconnect();
    }
  }

  async checkKeys(
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
          async () => (lost = missing(expected, await region.keys(pod, this.password))).length === 0,
          15_000,
        );
      } catch {
        // Counted below.
      }
      this.figures.keyChecks++;
      this.figures.keysAcknowledged = Math.max(this.figures.keysAcknowledged, expected.length);
      this.figures.keysLost += lost.length;
      expect(
        lost.length === 0,
        `${pod} lost ${lost.length} keys ${when} (e.g. ${lost.slice(0, 3).join(", ")})`,
      );
    }
    this.say.observe(`all ${expected.length} keys present on ${pods.join(", ")} ${when}`);
  }

  /**
   * Sends the promotion patch and measures it: time until `<name>-leader` accepts a write, then waits for
   * the promotion to complete (ReplicaMode False/Promoted) and every replica to follow the leader, and
   * checks that no pod served a full resync meanwhile. Records the figures of the summary.
   */
  async promoteMeasured(
    what: string,
    region: RegionView,
    name: string,
    args: string[],
  ): Promise<{ ms: number; cluster: RedisCluster; resyncs: number }> {
    const pods = podNames(name);
    const fullBefore = await this.fullSyncs(region, pods);
    const ms = await this.promoteAndMeasure(region, name, args);
    this.figures.promotionToWritableMs.push({ what, ms });
    const cluster = await until(`${name} promotion Completed`, async () => {
      const c = await region.cluster(name);
      return c.status?.promotion?.phase === "Completed" && condition(c, "ReplicaMode")?.reason === "Promoted"
        ? c
        : undefined;
    });
    await this.replicasAttached(region, `${name}-0`, INSTANCES - 1);
    const resyncs = (await this.fullSyncs(region, pods)) - fullBefore;
    this.figures.fullResyncsDuringPromotion += resyncs;
    expect(resyncs === 0, `${resyncs} full resyncs during the ${what}`);
    return { ms, cluster, resyncs };
  }

  private async promoteAndMeasure(region: RegionView, name: string, args: string[]): Promise<number> {
    const leader = serviceAddress(this.sb, `${name}-leader`, region.namespace);
    this.say.command(args);
    const started = Date.now();
    const run = await this.kubectl.ok(args);
    this.say.output(run.stderr + run.stdout);
    await until(
      `${name}-leader accepting writes`,
      async () => {
        const client = redisClient(leader, 6379, this.password);
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

  private async replicasAttached(region: RegionView, leaderPod: string, count: number): Promise<void> {
    await until(`${count} replicas attached to ${leaderPod}`, async () => {
      const i = await region.info(leaderPod, this.password, "replication");
      if (Number(i["connected_slaves"]) !== count) return false;
      for (let n = 0; n < count; n++) if (!/state=online/.test(i[`slave${n}`] ?? "")) return false;
      return true;
    });
  }

  /** Full resyncs served so far by the cluster's pods (INFO stats sync_full, summed). */
  async fullSyncs(region: RegionView, pods: readonly string[]): Promise<number> {
    let total = 0;
    for (const pod of pods)
      total += Number((await region.info(pod, this.password, "stats"))["sync_full"] ?? 0);
    return total;
  }
}
