/**
 * The controller end to end on the local sandbox: real API server, real redis pods run by the sandbox's
 * kubelet, the controller as a child process (controller/main.ts, unchanged), and an external source Redis.
 * Loopback range 127.20.0.0/16 (the sandbox: pods 127.20.1.x; the source: 127.20.60.1).
 */
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";
import { startSandbox, waitFor, type TestSandbox } from "../../hack/sandbox/testing.ts";
import { RedisProcess } from "../support/redis-process.ts";
import { startWriteLoad } from "../support/dr-harness.ts";
import { TcpProxy } from "../support/tcp-proxy.ts";
import { createTestCertificates } from "../support/tls.ts";

const RANGE = 20;
const SOURCE_PASSWORD = "e2e-source-pw-4711";
const CLUSTER_PASSWORD = "e2e-cluster-pw-0815";
const NS = "default";
const NAME = "dr";
const group = { group: "redis.io", version: "v1", namespace: NS, plural: "redisclusters" };
const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

let sb: TestSandbox;
let custom: CustomObjectsApi;
let core: CoreV1Api;
const source = new RedisProcess({ host: "127.20.60.1", password: SOURCE_PASSWORD });
// The cross-region link: the pods reach the source through a proxy the test can cut for them.
const wan = new TcpProxy("127.20.60.2", 6379, { host: "127.20.60.1", port: 6379 });
const SOURCE_HOST = wan.host;

before(async () => {
  await source.start();
  await wan.start();
  sb = await startSandbox({
    range: RANGE,
    controller: true,
    // A deleted Secret is noticed within a second, as the Secret tests below expect.
    operatorEnv: { RESYNC_SECONDS: "2", SECRET_REFRESH_SECONDS: "1", LOG_LEVEL: "debug" },
  });
  custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
  core = sb.kubeConfig.makeApiClient(CoreV1Api);
});
after(async () => {
  const keep = process.env["KEEP_CONTROLLER_LOG"];
  if (keep !== undefined && sb !== undefined) copyFileSync(join(sb.dir, "logs", "controller.log"), keep);
  // A test that failed half-way may have left a pod paused.
  try {
    sb?.resumePod("sentry-0", NS);
  } catch {
    // no such pod
  }
  await sb?.stop();
  await wan.stop();
  await source.stop();
});

const secret = (name: string, password: string) => ({
  metadata: { name, namespace: NS },
  stringData: { password },
});

async function cluster(): Promise<RedisCluster> {
  return (await custom.getNamespacedCustomObject({ ...group, name: NAME })) as RedisCluster;
}

const condition = (c: RedisCluster, type: string) => c.status?.conditions?.find((x) => x.type === type);

function podClient(name: string): Redis {
  const ip = sb.podIP(name);
  if (ip === undefined) throw new Error(`${name} has no IP`);
  const client = new Redis({
    host: ip,
    port: 6379,
    password: CLUSTER_PASSWORD,
    retryStrategy: () => null,
    maxRetriesPerRequest: 1,
    commandTimeout: 3000,
  });
  client.on("error", () => undefined);
  return client;
}

async function onPod<T>(name: string, run: (client: Redis) => Promise<T>): Promise<T> {
  const client = podClient(name);
  try {
    return await run(client);
  } finally {
    client.disconnect();
  }
}

const infoField = (text: string, field: string) => new RegExp(`^${field}:(.*)$`, "m").exec(text)?.[1]?.trim();
const pods = ["dr-0", "dr-1", "dr-2"];

async function metricsText(): Promise<string> {
  const log = readFileSync(join(sb.dir, "logs", "controller.log"), "utf8");
  const port = /"metricsPort":(\d+)/.exec(log)?.[1];
  if (port === undefined) throw new Error("the controller has not said its metrics port yet");
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return response.text();
}

async function events(): Promise<{ reason: string; message: string }[]> {
  const list = await core.listNamespacedEvent({ namespace: NS });
  return list.items
    .filter((e) => e.involvedObject.kind === "RedisCluster" && e.involvedObject.name === NAME)
    .map((e) => ({ reason: e.reason ?? "", message: e.message ?? "" }));
}

describe("the controller on the sandbox", () => {
  it("runs a DR cluster of 3 that replicates from the external source", async () => {
    await core.createNamespacedSecret({ namespace: NS, body: secret("dr-auth", CLUSTER_PASSWORD) });
    await core.createNamespacedSecret({ namespace: NS, body: secret("prod-auth", SOURCE_PASSWORD) });
    const writer = source.client();
    for (let i = 0; i < 50; i++) await writer.set(`seed-${i}`, String(i));
    writer.disconnect();
    await custom.createNamespacedCustomObject({
      ...group,
      body: {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: NAME, namespace: NS },
        spec: {
          instances: 3,
          storage: { size: "1Gi" },
          authSecret: { name: "dr-auth" },
          replicaMode: {
            enabled: true,
            source: { host: SOURCE_HOST, port: 6379, clusterName: "prod-east", authSecretName: "prod-auth" },
          },
        },
      },
    });
    for (const pod of pods) await sb.waitForPodReady(pod, NS, 60_000);
    const replicating = await waitFor(
      async () => {
        const c = await cluster();
        return c.status?.replication?.linkStatus === "Up" && condition(c, "ReplicaMode")?.status === "True"
          ? c
          : undefined;
      },
      { timeoutMs: 60_000, what: "replication up" },
    );
    assert.deepEqual(
      {
        ...condition(replicating, "ReplicaMode"),
        lastTransitionTime: undefined,
        observedGeneration: undefined,
      },
      {
        type: "ReplicaMode",
        status: "True",
        reason: "Enabled",
        message: "Cluster is replicating from prod-east (127.20.60.2:6379)",
        lastTransitionTime: undefined,
        observedGeneration: undefined,
      },
    );
    assert.equal(replicating.status?.designatedLeader, "dr-0");
    for (const pod of pods) {
      await waitFor(async () => (await onPod(pod, (c) => c.dbsize())) >= 50, { what: `keys on ${pod}` });
      const info = await onPod(pod, (c) => c.info("replication"));
      assert.equal(infoField(info, "role"), "slave");
      assert.equal(infoField(info, "master_host"), SOURCE_HOST);
      assert.equal(infoField(info, "master_link_status"), "up");
    }
    const labelled = await core.listNamespacedPod({
      namespace: NS,
      labelSelector: "redis.io/cluster=dr,redis.io/role=primary",
    });
    assert.deepEqual(
      labelled.items.map((p) => p.metadata?.name),
      ["dr-0"],
    );
    await waitFor(
      async () =>
        /redis_master_link_up\{namespace="default",cluster="dr",pod="dr-0"\} 1/.test(await metricsText()),
      {
        what: "link metric",
      },
    );
    // The process's own series, for memory and latency alerts: a resident set and a heap in use above 0.
    const text = await metricsText();
    for (const series of ["process_resident_memory_bytes", "nodejs_heap_size_used_bytes"]) {
      const value = Number(new RegExp(`^${series} (\\S+)$`, "m").exec(text)?.[1]);
      assert.ok(value > 0, `${series} is ${value}`);
    }
  });

  it("reports a partitioned link (status, metric, Event, lag against the source) and heals with a partial resync", async () => {
    const sourceStats = async () => {
      const client = source.client();
      try {
        const text = await client.info("stats");
        return {
          full: Number(infoField(text, "sync_full")),
          partial: Number(infoField(text, "sync_partial_ok")),
        };
      } finally {
        client.disconnect();
      }
    };
    const statsBefore = await sourceStats();
    wan.partition(pods.map((p) => sb.podIP(p) ?? ""));
    const writer = source.client();
    for (let i = 0; i < 100; i++) await writer.set(`partitioned-${i}`, String(i));
    writer.disconnect();
    const down = await waitFor(
      async () => {
        const c = await cluster();
        return c.status?.replication?.linkStatus === "Down" && (c.status.replication.lagBytes ?? 0) > 0
          ? c
          : undefined;
      },
      { timeoutMs: 30_000, what: "link down with lag" },
    );
    assert.equal(condition(down, "ReplicationHealthy")?.status, "False");
    assert.equal(condition(down, "ReplicationHealthy")?.reason, "LinkDown");
    assert.equal(typeof down.status?.replication?.linkDownSince, "string");
    await waitFor(
      async () =>
        /redis_master_link_up\{namespace="default",cluster="dr",pod="dr-0"\} 0/.test(await metricsText()),
      {
        what: "link metric at 0",
      },
    );
    await waitFor(async () => (await events()).some((e) => e.reason === "LinkDown"), {
      what: "LinkDown event",
    });

    wan.heal();
    await waitFor(
      async () => {
        const c = await cluster();
        return c.status?.replication?.linkStatus === "Up" && c.status.replication.lagBytes === 0
          ? c
          : undefined;
      },
      { timeoutMs: 30_000, what: "link healed" },
    );
    await waitFor(async () => (await events()).some((e) => e.reason === "LinkUp"), { what: "LinkUp event" });
    const statsAfter = await sourceStats();
    assert.equal(statsAfter.full, statsBefore.full);
    assert.equal(statsAfter.partial, statsBefore.partial + 3);
  });

  it("promotes under a write load with the source cut off, even with the controller killed mid-way", async () => {
    const load = startWriteLoad(source, "e2e");
    await waitFor(async () => (await onPod("dr-2", (c) => c.dbsize())) > 300, {
      what: "load replicated",
      timeoutMs: 30_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 2500)); // one resync: the controller records the source offset
    await source.kill(true);
    await load.stop();
    const before = new Set<string>();
    const fullSyncsBefore: number[] = [];
    for (const pod of pods) {
      for (const key of await onPod(pod, (c) => c.keys("*"))) before.add(key);
      fullSyncsBefore.push(Number(infoField(await onPod(pod, (c) => c.info("stats")), "sync_full")));
    }
    await custom.patchNamespacedCustomObject(
      { ...group, name: NAME, body: { spec: { replicaMode: { promote: true } } } },
      merge,
    );
    await waitFor(async () => (await cluster()).status?.promotion?.phase, { what: "promotion started" });
    sb.killController();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await sb.startController();
    const promoted = await waitFor(
      async () => {
        const c = await cluster();
        return c.status?.promotion?.phase === "Completed" &&
          condition(c, "ReplicaMode")?.reason === "Promoted"
          ? c
          : undefined;
      },
      { timeoutMs: 60_000, what: "promotion completed" },
    );
    assert.equal(condition(promoted, "ReplicaMode")?.status, "False");
    assert.equal(
      condition(promoted, "ReplicaMode")?.message,
      "Cluster promoted to standalone (former source: prod-east)",
    );
    await waitFor(async () => (await cluster()).status?.currentPrimary === "dr-0", {
      what: "currentPrimary",
    });
    const leaderInfo = await onPod("dr-0", (c) => c.info("replication"));
    assert.equal(infoField(leaderInfo, "role"), "master");
    assert.equal(infoField(leaderInfo, "connected_slaves"), "2");
    assert.equal(promoted.status?.promotion?.replicationId, infoField(leaderInfo, "master_replid"));
    assert.equal(await onPod("dr-0", (c) => c.set("after-promotion", "1")), "OK");
    for (const [i, pod] of pods.entries()) {
      const keys = new Set(await onPod(pod, (c) => c.keys("*")));
      assert.deepEqual(
        [...before].filter((k) => !keys.has(k)),
        [],
        `${pod} lost keys`,
      );
      assert.equal(
        Number(infoField(await onPod(pod, (c) => c.info("stats")), "sync_full")),
        fullSyncsBefore[i],
        `${pod} served a full resync`,
      );
    }
    const reasons = (await events()).map((e) => e.reason);
    for (const reason of ["PromotionRequested", "LeaderPromoted", "PromotionCompleted"])
      assert.ok(reasons.includes(reason), reason);
  });

  it("restores the leader after its pod crashes, with its data and its role", async () => {
    const keysBefore = await onPod("dr-0", (c) => c.dbsize());
    sb.killPod("dr-0", NS);
    await waitFor(
      async () => {
        const info = await onPod("dr-0", (c) => c.info("replication"));
        return infoField(info, "role") === "master" && infoField(info, "connected_slaves") === "2";
      },
      { timeoutMs: 60_000, what: "leader restored" },
    );
    assert.ok((await onPod("dr-0", (c) => c.dbsize())) >= keysBefore);
    assert.equal(
      (await onPod("dr-1", (c) => c.info("replication"))).includes(`master_host:${sb.podIP("dr-0")}`),
      true,
    );
  });

  it("reports a Secret that went missing with a condition and an Event, and keeps running", async () => {
    await core.deleteNamespacedSecret({ namespace: NS, name: "prod-auth" });
    const blocked = await waitFor(
      async () => {
        const c = await cluster();
        return condition(c, "SecretsAvailable")?.status === "False" ? c : undefined;
      },
      { what: "SecretsAvailable False" },
    );
    assert.equal(
      condition(blocked, "SecretsAvailable")?.message,
      "Secret prod-auth not found (spec.replicaMode.source.authSecretName): the replication link is left as it is",
    );
    await waitFor(async () => (await events()).some((e) => e.reason === "SecretMissing"), {
      what: "SecretMissing event",
    });
    // Still reconciling: the promoted cluster keeps its primary.
    const info = await onPod("dr-0", (c) => c.info("replication"));
    assert.equal(infoField(info, "role"), "master");
    const log = readFileSync(join(sb.dir, "logs", "controller.log"), "utf8");
    for (const secretValue of [SOURCE_PASSWORD, CLUSTER_PASSWORD])
      assert.equal(log.includes(secretValue), false);
  });

  it("demotes with the token once the source is back: the pods replicate from it again, the discarded bytes reported", async () => {
    await core.createNamespacedSecret({ namespace: NS, body: secret("prod-auth", SOURCE_PASSWORD) });
    await source.start(); // the old primary region is back, empty
    const token = (await cluster()).status?.promotion?.replicationId ?? "";
    assert.notEqual(token, "");
    await custom.patchNamespacedCustomObject(
      { ...group, name: NAME, body: { spec: { replicaMode: { promote: false, demotionToken: token } } } },
      merge,
    );
    const demoted = await waitFor(
      async () => {
        const c = await cluster();
        return c.status?.lastDemotion?.completedAt !== undefined && c.status.replication?.linkStatus === "Up"
          ? c
          : undefined;
      },
      { timeoutMs: 60_000, what: "demotion completed" },
    );
    assert.equal(demoted.status?.promotion, undefined);
    assert.equal(demoted.status?.lastDemotion?.replicationId, token);
    // dr-0 restarted after the promotion (previous test): its new history cannot be tied to the promoted one.
    assert.equal(demoted.status?.lastDemotion?.discardedBytes, undefined);
    assert.equal(
      condition(demoted, "ReplicaMode")?.message,
      "Cluster is replicating from prod-east (127.20.60.2:6379)",
      JSON.stringify(demoted.status),
    );
    for (const pod of pods) {
      await waitFor(
        async () => infoField(await onPod(pod, (c) => c.info("replication")), "master_link_status") === "up",
        {
          what: `${pod} linked to the source`,
        },
      );
      assert.equal(infoField(await onPod(pod, (c) => c.info("replication")), "master_host"), SOURCE_HOST);
    }
    const demotedEvent = (await events()).find((e) => e.reason === "Demoted");
    assert.match(
      demotedEvent?.message ?? "",
      new RegExp(
        `^Promotion ${token} reverted on request: an unknown number of bytes \\(at least \\d+: the leader restarted since the promotion\\) written since the promotion are discarded`,
      ),
    );
  });

  it("picks up a new cluster after its watches broke, and says when the source rejects the password", async () => {
    sb.compact(); // resumed watches get 410 Gone and must re-list
    sb.failNextWatches(3);
    sb.breakWatches();
    await core.createNamespacedSecret({
      namespace: NS,
      body: secret("wrong-auth", "not-the-source-password"),
    });
    await custom.createNamespacedCustomObject({
      ...group,
      body: {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: "wrongpw", namespace: NS },
        spec: {
          instances: 1,
          authSecret: { name: "dr-auth" },
          replicaMode: {
            enabled: true,
            source: { host: SOURCE_HOST, port: 6379, clusterName: "prod-east", authSecretName: "wrong-auth" },
          },
        },
      },
    });
    const reported = await waitFor(
      async () => {
        const c = (await custom.getNamespacedCustomObject({ ...group, name: "wrongpw" })) as RedisCluster;
        const healthy = condition(c, "ReplicationHealthy");
        return healthy?.reason === "LinkDown" && healthy.message.includes("rejected the password")
          ? healthy
          : undefined;
      },
      { timeoutMs: 60_000, what: "wrong password reported" },
    );
    assert.match(
      reported.message,
      /source prod-east \(127\.20\.60\.2:6379\) rejected the password from Secret wrong-auth: check that it matches the source's password$/,
    );
    const log = readFileSync(join(sb.dir, "logs", "controller.log"), "utf8");
    for (const value of [SOURCE_PASSWORD, CLUSTER_PASSWORD, "not-the-source-password"])
      assert.equal(log.includes(value), false);
  });

  it("runs a TLS cluster (tlsSecret): the controller administers its pods over TLS", async () => {
    const certificates = createTestCertificates();
    try {
      await core.createNamespacedSecret({
        namespace: NS,
        body: {
          metadata: { name: "tls-certs", namespace: NS },
          stringData: certificates.secretData(),
        },
      });
      await custom.createNamespacedCustomObject({
        ...group,
        body: {
          apiVersion: "redis.io/v1",
          kind: "RedisCluster",
          metadata: { name: "secure", namespace: NS },
          spec: { instances: 2, authSecret: { name: "dr-auth" }, tlsSecret: { name: "tls-certs" } },
        },
      });
      const ready = await waitFor(
        async () => {
          const c = (await custom.getNamespacedCustomObject({ ...group, name: "secure" })) as RedisCluster;
          return condition(c, "Ready")?.status === "True" && c.status?.currentPrimary === "secure-0"
            ? c
            : undefined;
        },
        { timeoutMs: 60_000, what: "TLS cluster ready" },
      );
      assert.equal(ready.status?.readyInstances, 2);
      const client = new Redis({
        host: sb.podIP("secure-0"),
        port: 6379,
        password: CLUSTER_PASSWORD,
        tls: { ca: [certificates.ca], checkServerIdentity: () => undefined },
        retryStrategy: () => null,
      });
      client.on("error", () => undefined);
      try {
        const info = await client.info("replication");
        assert.equal(infoField(info, "role"), "master");
        assert.equal(infoField(info, "connected_slaves"), "1");
      } finally {
        client.disconnect();
      }
    } finally {
      rmSync(certificates.dir, { recursive: true, force: true });
    }
  });

  it("runs a Sentinel-mode cluster and follows the primary Sentinel elects (labels, currentPrimary)", async () => {
    await custom.createNamespacedCustomObject({
      ...group,
      body: {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: "sentry", namespace: NS },
        spec: { instances: 3, mode: "sentinel", authSecret: { name: "dr-auth" } },
      },
    });
    const sentry = async () =>
      (await custom.getNamespacedCustomObject({ ...group, name: "sentry" })) as RedisCluster;
    const primaryLabelled = async () =>
      (
        await core.listNamespacedPod({
          namespace: NS,
          labelSelector: "redis.io/cluster=sentry,redis.io/role=primary",
        })
      ).items.map((p) => p.metadata?.name);
    await waitFor(async () => (await sentry()).status?.currentPrimary === "sentry-0", {
      timeoutMs: 60_000,
      what: "bootstrap",
    });
    await waitFor(async () => (await primaryLabelled()).join() === "sentry-0", { what: "leader labelled" });
    // Sentinel learns the replicas from the primary's INFO every 10 s; only then can it fail over.
    await waitFor(
      async () => {
        const sentinel = new Redis({
          host: sb.podIP("sentry-1"),
          port: 26379,
          password: CLUSTER_PASSWORD,
          retryStrategy: () => null,
        });
        sentinel.on("error", () => undefined);
        try {
          const fields = (await sentinel.call("SENTINEL", "MASTER", "sentry")) as string[];
          // Replicas boot unelectable (replica-priority 0) and the controller raises their priority once
          // they hold the primary's data; Sentinel re-reads it from their INFO every 10 s.
          const replicas = (await sentinel.call("SENTINEL", "REPLICAS", "sentry")) as string[][];
          const electable = replicas.filter((r) => r[r.indexOf("slave-priority") + 1] !== "0");
          return (
            fields[fields.indexOf("num-slaves") + 1] === "2" &&
            fields[fields.indexOf("num-other-sentinels") + 1] === "2" &&
            electable.length === 2
          );
        } finally {
          sentinel.disconnect();
        }
      },
      { timeoutMs: 60_000, what: "Sentinels ready" },
    );
    // A hung primary (no answers) for longer than down-after-milliseconds: Sentinel fails over.
    sb.pausePod("sentry-0", NS);
    const failedOver = await waitFor(
      async () => {
        const primary = (await sentry()).status?.currentPrimary;
        return primary !== undefined && primary !== "sentry-0" ? primary : undefined;
      },
      { timeoutMs: 60_000, what: "Sentinel failover followed" },
    );
    await waitFor(async () => (await primaryLabelled()).join() === failedOver, {
      what: "new primary labelled",
    });
    // Back from the hang: Sentinel makes the stale primary a replica of the new one.
    sb.resumePod("sentry-0", NS);
    await waitFor(
      async () => {
        const info = await onPod("sentry-0", (c) => c.info("replication"));
        return infoField(info, "role") === "slave" && infoField(info, "master_link_status") === "up";
      },
      { timeoutMs: 60_000, what: "old leader back as a replica" },
    );
    assert.equal((await sentry()).status?.currentPrimary, failedOver);
  });
});
