/**
 * Issue 6 end to end on the sandbox: a primary cluster in Sentinel mode and a Sentinel-mode DR cluster that
 * follows its leader Service. The primary's Redis process is killed: Sentinel fails over, the leader Service
 * and currentPrimary follow, and the DR cluster resynchronises from the new primary. Then the DR side is
 * promoted and its own Sentinels take over its failover. Loopback range 127.28.0.0/16 (sandbox range 28).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { RedisCluster, RedisClusterSpec } from "../../../schemas/generated/rediscluster.ts";
import { startTestCluster } from "../../../hack/k8s/testing.ts";
import { waitFor, type TestCluster } from "../../../hack/sandbox/testing.ts";

const PASSWORD = "issue6-pw-5521";
const NS = "default";
const group = { group: "redis.io", version: "v1", namespace: NS, plural: "redisclusters" };
const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

let sb: TestCluster;
let custom: CustomObjectsApi;
let core: CoreV1Api;

before(async () => {
  sb = await startTestCluster({ range: 28, controller: true, operatorEnv: { RESYNC_SECONDS: "1" } });
  custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
  core = sb.kubeConfig.makeApiClient(CoreV1Api);
});
after(async () => {
  await sb?.stop();
});

async function get(name: string): Promise<RedisCluster> {
  return (await custom.getNamespacedCustomObject({ ...group, name })) as RedisCluster;
}

async function create(name: string, spec: RedisClusterSpec): Promise<void> {
  await custom.createNamespacedCustomObject({
    ...group,
    body: { apiVersion: "redis.io/v1", kind: "RedisCluster", metadata: { name, namespace: NS }, spec },
  });
}

async function onPod<T>(pod: string, run: (client: Redis) => Promise<T>, port = 6379): Promise<T> {
  const client = new Redis({
    host: sb.podIP(pod),
    port,
    // Sentinels too: the application's password discovers the primary there (SENTINEL MASTER, REPLICAS …).
    password: PASSWORD,
    retryStrategy: () => null,
    maxRetriesPerRequest: 1,
    commandTimeout: 3000,
  });
  client.on("error", () => undefined);
  try {
    return await run(client);
  } finally {
    client.disconnect();
  }
}

const infoField = (text: string, field: string) => new RegExp(`^${field}:(.*)$`, "m").exec(text)?.[1]?.trim();

async function reasons(cluster: string): Promise<string[]> {
  const list = await core.listNamespacedEvent({ namespace: NS });
  return list.items
    .filter((e) => e.involvedObject.kind === "RedisCluster" && e.involvedObject.name === cluster)
    .map((e) => e.reason ?? "");
}

async function labelledPrimary(cluster: string): Promise<string> {
  const pods = await core.listNamespacedPod({
    namespace: NS,
    labelSelector: `redis.io/cluster=${cluster},redis.io/role=primary`,
  });
  return pods.items.map((p) => p.metadata?.name).join();
}

let lastSentinelProblem = "";

/**
 * Every Sentinel of the cluster knows its replicas (and west's pods following it), may elect them, and knows
 * the other Sentinels (it can then fail over).
 */
async function sentinelsReady(cluster: string, instances: number): Promise<boolean> {
  for (let i = 0; i < instances; i++) {
    const ready = await onPod(
      `${cluster}-${i}`,
      async (c) => {
        const fields = (await c.call("SENTINEL", "MASTER", cluster)) as string[];
        lastSentinelProblem = `${cluster}-${i}: ${fields.join(" ")}`;
        if (
          Number(fields[fields.indexOf("num-slaves") + 1]) < instances - 1 ||
          fields[fields.indexOf("num-other-sentinels") + 1] !== String(instances - 1)
        )
          return false;
        // It may elect them: Sentinel reads each replica's priority (0 until its first copy) every 10 s.
        const replicas = (await c.call("SENTINEL", "REPLICAS", cluster)) as string[][];
        const electable = replicas.filter((r) => r[r.indexOf("slave-priority") + 1] !== "0");
        lastSentinelProblem = `${cluster}-${i}: ${electable.length} electable replica(s)`;
        return electable.length >= instances - 1;
      },
      26379,
    ).catch((error: unknown) => {
      lastSentinelProblem = `${cluster}-${i}: ${String(error)}`;
      return false;
    });
    if (!ready) return false;
  }
  return true;
}

const keyCount = (pod: string) => onPod(pod, (c) => c.dbsize()).catch(() => -1);

describe("Sentinel mode with a DR cluster following the primary cluster's leader Service", () => {
  it("east fails over by Sentinel when its primary's process is killed; west follows and resynchronises", async () => {
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "redis-password", namespace: NS }, stringData: { password: PASSWORD } },
    });
    await create("east", { instances: 3, mode: "sentinel", authSecret: { name: "redis-password" } });
    await waitFor(async () => (await get("east")).status?.currentPrimary === "east-0", {
      timeoutMs: 60_000,
      what: "east bootstrapped",
    });
    const leaderService = await waitFor(
      async () => (await core.readNamespacedService({ name: "east-leader", namespace: NS })).spec?.clusterIP,
      { what: "east-leader ClusterIP" },
    );
    await onPod("east-0", async (c) => {
      for (let i = 0; i < 50; i++) await c.set(`k-${i}`, "v");
    });
    await create("west", {
      instances: 3,
      mode: "sentinel",
      authSecret: { name: "redis-password" },
      replicaMode: {
        enabled: true,
        source: { host: leaderService, port: 6379, clusterName: "east", authSecretName: "redis-password" },
      },
    });
    await waitFor(
      async () => (await Promise.all(["west-0", "west-1", "west-2"].map(keyCount))).join() === "50,50,50",
      {
        timeoutMs: 90_000,
        what: "west replicating every key",
      },
    );
    await waitFor(async () => (await get("west")).status?.replication?.sourceReplicationId, {
      what: "west saw the source's replication ID",
    });
    // West's Sentinels run but monitor nothing: they must not fail over a replica cluster.
    for (const pod of ["west-0", "west-1", "west-2"]) {
      assert.deepEqual(await onPod(pod, (c) => c.call("SENTINEL", "MASTERS"), 26379), []);
    }
    await waitFor(() => sentinelsReady("east", 3), {
      timeoutMs: 60_000,
      what: "east's Sentinels ready",
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${lastSentinelProblem}`);
    });
    // East lists west's pods under names that never resolve: east's Sentinels know no address for any of
    // them, so they can never re-point one (e.g. undo west's promotion) or elect one as east's primary.
    const eastInfo = await onPod("east-0", (c) => c.info("replication"));
    for (const pod of ["west-0", "west-1", "west-2"]) {
      assert.match(eastInfo, new RegExp(`^slave\\d+:ip=${pod}\\.dr-replica\\.invalid,port=6379,`, "m"));
    }
    const westIPs = new Set(["west-0", "west-1", "west-2"].map((pod) => sb.podIP(pod)));
    for (const pod of ["east-0", "east-1", "east-2"]) {
      const replicas = (await onPod(pod, (c) => c.call("SENTINEL", "REPLICAS", "east"), 26379)) as string[][];
      const addresses = replicas.map((fields) => fields[fields.indexOf("ip") + 1] ?? "");
      assert.deepEqual(
        addresses.filter((ip) => westIPs.has(ip)),
        [],
        `${pod}'s Sentinel: ${addresses.join()}`,
      );
    }

    sb.killPod("east-0", NS);
    const elected = await waitFor(
      async () => {
        const primary = (await get("east")).status?.currentPrimary;
        return primary !== undefined && primary !== "east-0" ? primary : undefined;
      },
      { timeoutMs: 60_000, what: "east failed over" },
    );
    assert.equal(await onPod(elected, async (c) => infoField(await c.info("replication"), "role")), "master");
    await waitFor(async () => (await labelledPrimary("east")) === elected, {
      timeoutMs: 60_000,
      what: "east-leader follows",
    });
    const eastReasons = await reasons("east");
    // Asked by the controller when the pod came straight back parked (SentinelFailoverRequested), or noticed
    // by Sentinel itself when the restart took longer than down-after-milliseconds.
    assert.ok(eastReasons.includes("SentinelFailover"), eastReasons.join());

    await onPod(elected, (c) => c.set("after-failover", "v"));
    await waitFor(async () => (await keyCount("west-2")) === 51, {
      timeoutMs: 60_000,
      what: "west keeps replicating",
    });
    await waitFor(async () => (await reasons("west")).includes("SourceResynchronised"), {
      timeoutMs: 60_000,
      what: "west's resync reported",
    });
    // east-0 came back as a replica of the new primary.
    await waitFor(
      async () =>
        (await onPod("east-0", async (c) =>
          infoField(await c.info("replication"), "master_link_status"),
        ).catch(() => undefined)) === "up",
      { timeoutMs: 60_000, what: "east-0 a replica again" },
    );
  });

  it("west, promoted, becomes a primary and its Sentinels take over its failover", async () => {
    await custom.patchNamespacedCustomObject(
      { ...group, name: "west", body: { spec: { replicaMode: { promote: true } } } },
      merge,
    );
    await waitFor(async () => (await get("west")).status?.promotion?.phase === "Completed", {
      timeoutMs: 60_000,
      what: "west promoted",
    });
    await waitFor(() => sentinelsReady("west", 3), {
      timeoutMs: 60_000,
      what: "west's Sentinels monitor it",
    });
    assert.equal((await get("west")).status?.currentPrimary, "west-0");
    assert.ok((await reasons("west")).includes("SentinelMonitoring"));

    sb.killPod("west-0", NS);
    const elected = await waitFor(
      async () => {
        const primary = (await get("west")).status?.currentPrimary;
        return primary !== undefined && primary !== "west-0" ? primary : undefined;
      },
      { timeoutMs: 60_000, what: "west failed over by Sentinel" },
    );
    await waitFor(async () => (await labelledPrimary("west")) === elected, {
      timeoutMs: 60_000,
      what: "west-leader follows",
    });
    assert.equal(await onPod(elected, (c) => c.set("west-write", "v")), "OK");
    assert.equal(await keyCount(elected), 52);
  });
});
