/**
 * Faults inside the DR region: a DR pod killed during the initial full sync, the leader killed in the middle
 * of a promotion, and the controller killed at each step of a promotion (watched through the API, killed the
 * moment status shows the step). Each asserts that no key replicated before the fault is lost, that status
 * tells the truth, and that everything finishes without a manual step. Loopback range 127.36.0.0/16.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it, type TestContext } from "node:test";
import { Watch } from "@kubernetes/client-node";
import { RegionLink } from "../../../hack/lib/link.ts";
import { condition, redisClient } from "../../../hack/lib/observe.ts";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { RedisProcess } from "../../support/redis-process.ts";
import {
  everyPodHolds,
  fullSyncsServed,
  podNames,
  promotionCompleted,
  redisClusterManifest,
  replicaSpec,
  replicating,
  startRegion,
  untilCluster,
  waitFor,
  type Region,
} from "../../support/region-fixture.ts";
import { assertNothingLost, trackScenarios } from "./ledger.ts";

trackScenarios();

const NS = "default";
const SOURCE_PASSWORD = "east-pw-36";
const CLUSTER_PASSWORD = "west-pw-36";
const pods = podNames("dr", 3);
const source = new RedisProcess({ host: "127.36.60.1", password: SOURCE_PASSWORD });
const wan = new RegionLink("127.36.240.1", 6379, { host: source.host, port: 6379 });

let region: Region;
let replicated: string[] = [];

before(async () => {
  await source.start();
  await wan.start();
  // Not an admission fault: no webhook here, one process less on a 2-core CI machine.
  region = await startRegion(36, { webhook: false });
  await region.kubectl.applyPasswordSecret(NS, "east-auth", SOURCE_PASSWORD);
  await region.kubectl.applyPasswordSecret(NS, "dr-auth", CLUSTER_PASSWORD);
});
after(async () => {
  await region?.stop();
  await wan.stop();
  await source.stop();
});

/** Keys with incompressible values, so a full sync of them takes a while through a throttled link. */
async function writeRandomKeys(prefix: string, count: number, valueBytes: number): Promise<string[]> {
  const client = redisClient(source.host, 6379, SOURCE_PASSWORD);
  try {
    const keys = Array.from({ length: count }, (_, i) => `${prefix}:${i}`);
    const pipeline = client.pipeline();
    for (const key of keys) pipeline.set(key, randomBytes(valueBytes / 2).toString("hex"));
    await pipeline.exec();
    return keys;
  } finally {
    client.disconnect();
  }
}

/** Watches the cluster and runs `act` (once) on the first update whose status satisfies `when`. */
async function onStatus(
  when: (c: RedisCluster) => boolean,
  act: () => void,
): Promise<{ seen: Promise<RedisCluster>; stop: () => void }> {
  let resolveSeen: (c: RedisCluster) => void = () => undefined;
  const seen = new Promise<RedisCluster>((resolve) => (resolveSeen = resolve));
  let fired = false;
  const abort = await new Watch(region.sb.kubeConfig).watch(
    `/apis/redis.io/v1/namespaces/${NS}/redisclusters`,
    { fieldSelector: "metadata.name=dr" },
    (_type, object: RedisCluster) => {
      if (fired || !when(object)) return;
      fired = true;
      act();
      resolveSeen(object);
    },
    () => undefined,
  );
  return { seen, stop: () => abort.abort() };
}

const patchPromote = (value: boolean, token?: string) =>
  region.kubectl.ok([
    "patch",
    "rediscluster",
    "dr",
    "--type=merge",
    "-p",
    JSON.stringify({
      spec: {
        replicaMode: token === undefined ? { promote: value } : { promote: value, demotionToken: token },
      },
    }),
  ]);

async function demote(): Promise<void> {
  const token = (await region.view(NS).cluster("dr")).status?.promotion?.replicationId ?? "";
  await patchPromote(false, token);
  await untilCluster(
    region.view(NS),
    "dr",
    "demoted and in sync",
    (c) =>
      c.status?.lastDemotion?.replicationId === token &&
      c.status.lastDemotion.completedAt !== undefined &&
      replicating(c) &&
      c.status.replication?.lagBytes === 0,
  );
  await everyPodHolds(region.view(NS), pods, CLUSTER_PASSWORD, replicated);
}

/**
 * After a promotion: dr-0 the only primary, the others linked to it, every replicated key everywhere
 * (recorded in the fault ledger), and with `fullSyncsBefore` no full resync since.
 */
async function assertPromotedWhole(t: TestContext, fullSyncsBefore?: number): Promise<void> {
  const view = region.view(NS);
  const promoted = await untilCluster(view, "dr", "promotion completed", promotionCompleted, 60_000);
  assert.equal(condition(promoted, "ReplicaMode")?.status, "False");
  await waitFor(
    async () => {
      const info = await view.info("dr-0", CLUSTER_PASSWORD, "replication");
      return info["role"] === "master" && info["connected_slaves"] === "2";
    },
    { what: "dr-0 primary with 2 replicas", timeoutMs: 30_000 },
  );
  for (const pod of ["dr-1", "dr-2"]) {
    const info = await view.info(pod, CLUSTER_PASSWORD, "replication");
    assert.equal(info["master_host"], region.sb.podIP("dr-0", NS));
  }
  const fullSyncs = await fullSyncsServed(view, pods, CLUSTER_PASSWORD);
  await assertNothingLost(t, {
    view,
    pods,
    password: CLUSTER_PASSWORD,
    keys: replicated,
    ...(fullSyncsBefore === undefined ? {} : { fullResyncs: fullSyncs - fullSyncsBefore }),
  });
  if (fullSyncsBefore !== undefined) assert.equal(fullSyncs, fullSyncsBefore, "full resyncs");
}

describe("faults inside the DR region", () => {
  it("a DR pod killed during the initial full sync: status says Syncing, the pod comes back and the sync finishes with every key", async (t) => {
    replicated = await writeRandomKeys("big", 1000, 1000);
    wan.throttle(150_000);
    await region.kubectl.apply([
      redisClusterManifest(
        "dr",
        NS,
        replicaSpec(3, "dr-auth", { host: wan.host, clusterName: "east", authSecretName: "east-auth" }),
      ),
    ]);
    const view = region.view(NS);
    await untilCluster(view, "dr", "status Syncing", (c) => c.status?.replication?.linkStatus === "Syncing");
    assert.equal(condition(await view.cluster("dr"), "ReplicationHealthy")?.reason, "Syncing");
    region.sb.killPod("dr-0", NS);
    region.sb.killPod("dr-2", NS);
    wan.heal();
    await untilCluster(
      view,
      "dr",
      "in sync after the restarts",
      (c) => replicating(c) && c.status?.replication?.lagBytes === 0,
      60_000,
    );
    await assertNothingLost(t, {
      view,
      pods,
      password: CLUSTER_PASSWORD,
      keys: replicated,
      timeoutMs: 30_000,
    });
    const reasons = (await view.events("dr")).map((e) => e.reason);
    assert.ok(reasons.includes("SyncStarted"), "a SyncStarted Event");
  });

  it("the leader killed mid-promotion: the promotion completes after its restart, nothing replicated is lost", async (t) => {
    const watch = await onStatus(
      (c) => c.status?.promotion?.phase !== undefined,
      () => region.sb.killPod("dr-0", NS),
    );
    try {
      await patchPromote(true);
      const seen = await watch.seen;
      assert.ok(seen.status?.promotion?.phase !== undefined);
    } finally {
      watch.stop();
    }
    await assertPromotedWhole(t);
    await demote();
  });

  for (const step of ["requested", "CatchingUp", "Promoting", "Reattaching"] as const) {
    it(`the controller killed at promotion step ${step}: the restarted controller finishes it without a full resync`, async (t) => {
      const fullBefore = await fullSyncsServed(region.view(NS), pods, CLUSTER_PASSWORD);
      if (step === "requested") {
        await patchPromote(true);
        region.sb.killController();
      } else {
        const watch = await onStatus(
          (c) => c.status?.promotion?.phase === step,
          () => region.sb.killController(),
        );
        try {
          await patchPromote(true);
          assert.equal((await watch.seen).status?.promotion?.phase, step);
        } finally {
          watch.stop();
        }
      }
      await region.sb.restartController();
      await assertPromotedWhole(t, fullBefore);
      await demote();
    });
  }
});
