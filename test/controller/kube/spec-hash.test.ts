/**
 * The StatefulSet's spec hash, remembered per cluster (kube/resources, statefulSetSpecHash): the same hash
 * as the StatefulSet the controller would write, recomputed when and only when the spec changes, and
 * forgotten with the cluster.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import {
  SPEC_HASH_ANNOTATION,
  statefulSetFor,
  statefulSetSpecHash,
} from "../../../controller/kube/resources.ts";
import { ControllerMetrics } from "../../../controller/metrics/metrics.ts";
import type { ReconcileDeps } from "../../../controller/reconcile/context.ts";
import { reconcileCluster } from "../../../controller/reconcile/reconciler.ts";
import type { ClusterApi } from "../../../controller/kube/cluster-api.ts";
import type { RedisAdminFactory } from "../../../controller/redis/admin-port.ts";
import { cluster } from "../../support/clusters.ts";

const written = (c: Parameters<typeof statefulSetFor>[0]) =>
  statefulSetFor(c).metadata?.annotations?.[SPEC_HASH_ANNOTATION];

describe("statefulSetSpecHash", () => {
  it("is the hash the StatefulSet written for the cluster carries, with a memo or without", () => {
    const c = cluster({ instances: 3 });
    assert.match(statefulSetSpecHash(c), /^[0-9a-f]{16,}$/);
    assert.equal(statefulSetSpecHash(c), written(c));
    assert.equal(statefulSetSpecHash(c, new Map()), written(c));
  });

  it("reuses the remembered hash for an equal spec and recomputes it for a changed one", () => {
    const memo = new Map<string, { readonly spec: string; readonly hash: string }>();
    const three = cluster({ instances: 3 });
    const first = statefulSetSpecHash(three, memo);
    const entry = memo.get("default/redis-west");
    assert.equal(entry?.hash, first);
    // A fresh copy of the same object (each reconcile gets one): the entry is used as it is.
    assert.equal(statefulSetSpecHash(structuredClone(three), memo), first);
    assert.equal(memo.get("default/redis-west"), entry);

    const five = cluster({ instances: 5 });
    const changed = statefulSetSpecHash(five, memo);
    assert.notEqual(changed, first);
    assert.equal(changed, written(five));
    assert.equal(memo.get("default/redis-west")?.hash, changed);
  });

  it("keeps clusters of the same name in two namespaces apart", () => {
    const memo = new Map<string, { readonly spec: string; readonly hash: string }>();
    const here = cluster({ instances: 3 });
    const there = cluster({ instances: 5 });
    there.metadata = { ...there.metadata, namespace: "other" };
    assert.equal(statefulSetSpecHash(here, memo), written(here));
    assert.equal(statefulSetSpecHash(there, memo), written(there));
    assert.deepEqual([...memo.keys()].sort(), ["default/redis-west", "other/redis-west"]);
  });

  it("is forgotten when the cluster is deleted", async () => {
    const specHashes = new Map([["default/gone", { spec: "{}", hash: "abc" }]]);
    const deps = {
      api: { getCluster: () => Promise.resolve(undefined) } as unknown as ClusterApi,
      redis: {} as RedisAdminFactory,
      metrics: new ControllerMetrics(),
      log: pino({ level: "silent" }),
      now: () => new Date(),
      resyncMs: 5_000,
      specHashes,
    } satisfies ReconcileDeps;
    assert.deepEqual(await reconcileCluster(deps, "default", "gone"), {});
    assert.equal(specHashes.size, 0);
  });
});
