/**
 * What the fault files that promote share: request a promotion, act the moment status shows a step (watched
 * through the API), check the promoted cluster whole and record its figures in the fault ledger, and demote
 * with the token so the next case starts from replica mode again.
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { Watch } from "@kubernetes/client-node";
import { condition } from "../../../hack/lib/observe.ts";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import {
  fullSyncsServed,
  promotionCompleted,
  replicating,
  untilCluster,
  waitFor,
  type Region,
} from "../../support/region-fixture.ts";
import { assertNothingLost } from "./ledger.ts";

export interface DrCluster {
  region: Region;
  namespace: string;
  name: string;
  pods: readonly string[];
  password: string;
}

/**
 * Watches the cluster and runs `act` (once) on the first update whose status satisfies `when`; `seen`
 * rejects when no such update came within `timeoutMs`.
 */
export async function onStatus(
  dr: DrCluster,
  when: (c: RedisCluster) => boolean,
  act: (c: RedisCluster) => void,
  timeoutMs = 120_000,
): Promise<{ seen: Promise<RedisCluster>; stop: () => void }> {
  let resolveSeen: (c: RedisCluster) => void = () => undefined;
  let rejectSeen: (e: Error) => void = () => undefined;
  const seen = new Promise<RedisCluster>((resolve, reject) => {
    resolveSeen = resolve;
    rejectSeen = reject;
  });
  const timer = setTimeout(
    () => rejectSeen(new Error(`no status update of ${dr.name} matched within ${timeoutMs} ms`)),
    timeoutMs,
  );
  let fired = false;
  const abort = await new Watch(dr.region.sb.kubeConfig).watch(
    `/apis/redis.io/v1/namespaces/${dr.namespace}/redisclusters`,
    { fieldSelector: `metadata.name=${dr.name}` },
    (_type, object: RedisCluster) => {
      if (fired || !when(object)) return;
      fired = true;
      clearTimeout(timer);
      try {
        act(object);
        resolveSeen(object);
      } catch (error) {
        rejectSeen(error instanceof Error ? error : new Error(String(error)));
      }
    },
    () => undefined,
  );
  return {
    seen,
    stop: () => {
      clearTimeout(timer);
      abort.abort();
    },
  };
}

export const patchPromote = (dr: DrCluster, value: boolean, token?: string) =>
  dr.region.kubectl.ok([
    "-n",
    dr.namespace,
    "patch",
    "rediscluster",
    dr.name,
    "--type=merge",
    "-p",
    JSON.stringify({
      spec: {
        replicaMode: token === undefined ? { promote: value } : { promote: value, demotionToken: token },
      },
    }),
  ]);

/**
 * After a promotion: Completed with the leader's own replication ID recorded, the leader the only primary
 * with every other pod linked to it, every key of `keys` on every pod (recorded in the ledger), and with
 * `fullSyncsBefore` no full resync since. Resolves with the promoted cluster.
 */
export async function assertPromotedWhole(
  t: TestContext,
  dr: DrCluster,
  keys: readonly string[],
  options: { fullSyncsBefore?: number; timeoutMs?: number; note?: string } = {},
): Promise<RedisCluster> {
  const view = dr.region.view(dr.namespace);
  const leader = `${dr.name}-0`;
  const promoted = await untilCluster(
    view,
    dr.name,
    "promotion completed",
    promotionCompleted,
    options.timeoutMs ?? 90_000,
  );
  assert.equal(condition(promoted, "ReplicaMode")?.status, "False");
  const followers = dr.pods.length - 1;
  await waitFor(
    async () => {
      const info = await view.info(leader, dr.password, "replication");
      return info["role"] === "master" && info["connected_slaves"] === String(followers);
    },
    { what: `${leader} primary with ${followers} replicas`, timeoutMs: 30_000 },
  );
  const leaderInfo = await view.info(leader, dr.password, "replication");
  assert.equal(promoted.status?.promotion?.replicationId, leaderInfo["master_replid"], "replicationId");
  assert.equal(promoted.status?.currentPrimary, leader);
  for (const pod of dr.pods.filter((p) => p !== leader)) {
    const info = await view.info(pod, dr.password, "replication");
    assert.equal(info["master_host"], dr.region.sb.podIP(leader, dr.namespace), `${pod} follows ${leader}`);
  }
  const fullSyncs = await fullSyncsServed(view, dr.pods, dr.password);
  await assertNothingLost(t, {
    view,
    pods: dr.pods,
    password: dr.password,
    keys,
    ...(options.fullSyncsBefore === undefined ? {} : { fullResyncs: fullSyncs - options.fullSyncsBefore }),
    ...(options.note === undefined ? {} : { note: options.note }),
  });
  if (options.fullSyncsBefore !== undefined)
    assert.equal(fullSyncs, options.fullSyncsBefore, "full resyncs during the promotion");
  return promoted;
}

/** Demotes with the token and waits until the cluster follows its source again, in sync. */
export async function demote(dr: DrCluster): Promise<void> {
  const view = dr.region.view(dr.namespace);
  const token = (await view.cluster(dr.name)).status?.promotion?.replicationId ?? "";
  await patchPromote(dr, false, token);
  await untilCluster(
    view,
    dr.name,
    "demoted and in sync",
    (c) =>
      c.status?.lastDemotion?.replicationId === token &&
      c.status.lastDemotion.completedAt !== undefined &&
      replicating(c) &&
      c.status.replication?.lagBytes === 0,
    90_000,
  );
}
