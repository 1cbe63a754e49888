/**
 * Issue 6 end to end on the sandbox: minSyncReplicas on a promoted DR cluster. Its replicas hang (paused
 * processes): past min-replicas-max-lag (10 s) the primary refuses writes with NOREPLICAS and
 * status.syncReplicas says 0; one replica back restores writes. Loopback range 127.26.0.0/16 (sandbox range
 * 26; the source: 127.26.60.1).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { startTestCluster } from "../../../hack/k8s/testing.ts";
import { waitFor, type TestCluster } from "../../../hack/sandbox/testing.ts";
import { RedisProcess } from "../../support/redis-process.ts";

const PASSWORD = "issue6-sync-pw-3307";
const NS = "default";
const group = { group: "redis.io", version: "v1", namespace: NS, plural: "redisclusters" };
const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

const source = new RedisProcess({ host: "127.26.60.1", password: PASSWORD });
let sb: TestCluster;
let custom: CustomObjectsApi;
const paused = new Set<string>();

before(async () => {
  await source.start();
  sb = await startTestCluster({ range: 26, controller: true, operatorEnv: { RESYNC_SECONDS: "1" } });
  custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
  const core = sb.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: "auth", namespace: NS }, stringData: { password: PASSWORD } },
  });
});
after(async () => {
  for (const pod of paused) sb?.resumePod(pod, NS);
  await sb?.stop();
  await source.stop();
});

const get = async () => (await custom.getNamespacedCustomObject({ ...group, name: "sync" })) as RedisCluster;

async function write(key: string): Promise<string> {
  const client = new Redis({
    host: sb.podIP("sync-0"),
    port: 6379,
    password: PASSWORD,
    retryStrategy: () => null,
    maxRetriesPerRequest: 1,
  });
  client.on("error", () => undefined);
  try {
    return await client.set(key, "v");
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    client.disconnect();
  }
}

describe("minSyncReplicas: 1 on a promoted DR cluster", () => {
  it("refuses writes with NOREPLICAS while no replica is good, and takes them again when one is back", async () => {
    await custom.createNamespacedCustomObject({
      ...group,
      body: {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: "sync", namespace: NS },
        spec: {
          instances: 3,
          minSyncReplicas: 1,
          authSecret: { name: "auth" },
          replicaMode: {
            enabled: true,
            source: { host: source.host, port: 6379, clusterName: "east", authSecretName: "auth" },
          },
        },
      },
    });
    await waitFor(async () => (await get()).status?.replication?.linkStatus === "Up", {
      timeoutMs: 60_000,
      what: "replicating",
    });
    assert.equal((await get()).status?.syncReplicas, undefined);
    await custom.patchNamespacedCustomObject(
      { ...group, name: "sync", body: { spec: { replicaMode: { promote: true } } } },
      merge,
    );
    await waitFor(async () => (await get()).status?.syncReplicas === 2, {
      timeoutMs: 60_000,
      what: "promoted, 2 good",
    });
    assert.equal(await write("with-replicas"), "OK");

    for (const pod of ["sync-1", "sync-2"]) {
      sb.pausePod(pod, NS);
      paused.add(pod);
    }
    await waitFor(async () => (await get()).status?.syncReplicas === 0, {
      timeoutMs: 30_000,
      what: "no good replica",
    });
    assert.match(await write("without-replicas"), /^NOREPLICAS/);

    sb.resumePod("sync-1", NS);
    paused.delete("sync-1");
    await waitFor(async () => (await get()).status?.syncReplicas === 1, {
      timeoutMs: 30_000,
      what: "one good replica",
    });
    assert.equal(await write("one-replica-back"), "OK");
  });
});
