/**
 * The cluster API wrapper and the Lease leader election against the sandbox's real API server
 * (loopback range 127.21.0.0/16: API server only, no pods).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { pino } from "pino";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { ClusterApi } from "../../../controller/kube/cluster-api.ts";
import { LeaderElector } from "../../../controller/watch/leader-election.ts";
import { startSandbox, type TestSandbox } from "../../../hack/sandbox/testing.ts";

let sb: TestSandbox;
let api: ClusterApi;
const group = { group: "redis.io", version: "v1", namespace: "default", plural: "redisclusters" };

before(async () => {
  sb = await startSandbox({ range: 21 });
  api = new ClusterApi(sb.kubeConfig);
});
after(() => sb?.stop());

async function createCluster(name: string): Promise<void> {
  await sb.kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    ...group,
    body: {
      apiVersion: "redis.io/v1",
      kind: "RedisCluster",
      metadata: { name, namespace: "default" },
      spec: { instances: 1 },
    },
  });
}

describe("patchStatus", () => {
  it("writes a transaction's result, removes what it drops, and leaves the spec alone", async () => {
    await createCluster("status-a");
    await api.patchStatus("default", "status-a", (s) => ({
      ...s,
      currentPrimary: "status-a-0",
      promotion: { phase: "Completed" },
    }));
    const after = await api.patchStatus("default", "status-a", (s) => ({ ...s, promotion: undefined }));
    assert.deepEqual(after?.status, { currentPrimary: "status-a-0" });
    assert.equal(after?.spec.instances, 1);
  });

  it("writes nothing for a transaction that changes nothing", async () => {
    const before = await api.getCluster("default", "status-a");
    const after = await api.patchStatus("default", "status-a", (s) => ({ ...s }));
    assert.equal(after?.metadata?.resourceVersion, before?.metadata?.resourceVersion);
  });

  it("re-applies the transaction to the fresh object after a 409 conflict", async () => {
    const stale = (await api.getCluster("default", "status-a")) as RedisCluster;
    // Someone else writes meanwhile: the stale copy's resourceVersion no longer matches.
    await api.patchStatus("default", "status-a", (s) => ({ ...s, designatedLeader: "status-a-0" }));
    let runs = 0;
    const after = await api.patchStatus(
      "default",
      "status-a",
      (s) => {
        runs++;
        return { ...s, readyInstances: 1 };
      },
      stale,
    );
    assert.equal(runs, 2);
    assert.deepEqual(after?.status, {
      currentPrimary: "status-a-0",
      designatedLeader: "status-a-0",
      readyInstances: 1,
    });
  });

  it("reports a missing Secret or key without throwing", async () => {
    assert.deepEqual(await api.secretPassword("default", "nope"), {
      kind: "missing",
      reason: "Secret nope not found",
    });
  });
});

describe("leader election", () => {
  it("lets one candidate lead, and another take over once the leader stops renewing", async () => {
    const log = pino({ level: "silent" });
    const options = { namespace: "default", name: "test-lease", leaseDurationSeconds: 1, renewEveryMs: 100 };
    const first = new LeaderElector(sb.kubeConfig, { ...options, identity: "first" }, log);
    const second = new LeaderElector(sb.kubeConfig, { ...options, identity: "second" }, log);
    try {
      assert.equal(await first.tryAcquireOrRenew(), true);
      assert.equal(await second.tryAcquireOrRenew(), false);
      assert.equal(await first.tryAcquireOrRenew(), true);
      let lost = false;
      await second.campaign(() => {
        lost = true;
      }); // resolves once `first` (not renewing any more) has let its Lease expire
      assert.equal(await first.tryAcquireOrRenew(), false);
      assert.equal(lost, false);
    } finally {
      first.stop();
      second.stop();
    }
  });
});
