/**
 * The controller reads from its informers' caches (controller/kube/cluster-api.ts, controller/watch/
 * informers.ts), counted at the sandbox API server: a steady DR cluster costs no API read between changes,
 * a cache held behind the API server during a promotion never makes a pod follow the wrong primary, and a
 * spec change updates the StatefulSet once (the spec hash each pass compares is remembered per cluster).
 * Loopback range 127.96.0.0/16 (the sandbox: pods 127.96.1.x; the source: 127.96.60.1).
 */
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { after, before, describe, it } from "node:test";
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";
import { startSandbox, waitFor, type TestSandbox } from "../../hack/sandbox/testing.ts";
import { HOLD_UPSTREAM } from "../../controller/model/pods.ts";
import { SPEC_HASH_ANNOTATION, statefulSetFor } from "../../controller/kube/resources.ts";
import { RedisProcess } from "../support/redis-process.ts";

const RANGE = 96;
const SOURCE_PASSWORD = "caches-source-pw-1";
const CLUSTER_PASSWORD = "caches-cluster-pw-2";
const NS = "default";
const NAME = "cached";
const PODS = ["cached-0", "cached-1", "cached-2"];
const KEYS = 500;
const group = { group: "redis.io", version: "v1", namespace: NS, plural: "redisclusters" };
const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
/** The test's own requests say so, and the request log leaves them out. */
const TEST_AGENT = "controller-caches-test";
const asTest = setHeaderOptions("User-Agent", TEST_AGENT);

let sb: TestSandbox;
let custom: CustomObjectsApi;
let core: CoreV1Api;
const source = new RedisProcess({ host: "127.96.60.1", password: SOURCE_PASSWORD });

/**
 * The controller's API requests as the sandbox API server receives them: "GET redisclusters/cached",
 * "LIST pods", "WATCH pods", "PATCH redisclusters/cached/status"…
 */
class RequestLog {
  readonly requests: string[] = [];
  private readonly unsubscribe: () => void;

  constructor(test: TestSandbox) {
    this.unsubscribe = test.sandbox.api.onRequest((req) => {
      if (req.headers["user-agent"] !== TEST_AGENT) this.requests.push(describeRequest(req));
    });
  }

  stop(): string[] {
    this.unsubscribe();
    return this.requests;
  }
}

function describeRequest(req: IncomingMessage): string {
  const url = new URL(req.url ?? "/", "http://sandbox");
  const parts = url.pathname.split("/").filter(Boolean);
  const at = parts.indexOf("namespaces");
  const rest = at >= 0 ? parts.slice(at + 2) : parts.slice(parts[0] === "api" ? 2 : 3);
  const watch = url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1";
  const method = req.method ?? "?";
  const verb = watch ? "WATCH" : method === "GET" && rest.length === 1 ? "LIST" : method;
  return `${verb} ${rest.join("/")}`;
}

const isRead = (request: string) => request.startsWith("GET ") || request.startsWith("LIST ");

before(async () => {
  await source.start();
  sb = await startSandbox({
    range: RANGE,
    controller: true,
    operatorEnv: { RESYNC_SECONDS: "1" },
  });
  custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
  core = sb.kubeConfig.makeApiClient(CoreV1Api);
});
after(async () => {
  await sb?.stop();
  await source.stop();
});

async function cluster(): Promise<RedisCluster> {
  return (await custom.getNamespacedCustomObject({ ...group, name: NAME }, asTest)) as RedisCluster;
}

async function onPod<T>(name: string, run: (client: Redis) => Promise<T>): Promise<T> {
  const ip = sb.podIP(name);
  if (ip === undefined) throw new Error(`${name} has no IP`);
  const client = new Redis({
    host: ip,
    port: 6379,
    password: CLUSTER_PASSWORD,
    retryStrategy: () => null,
    maxRetriesPerRequest: 1,
    commandTimeout: 3000,
    lazyConnect: true,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return await run(client);
  } finally {
    client.disconnect();
  }
}

const infoField = (text: string, field: string) => new RegExp(`^${field}:(.*)$`, "m").exec(text)?.[1]?.trim();

/** Who each pod follows, as it says itself: "master", "<host>" (its master_host) or "?" (no answer). */
async function targets(): Promise<Record<string, string>> {
  const entries = await Promise.all(
    PODS.map(async (pod): Promise<[string, string]> => {
      try {
        const info = await onPod(pod, (c) => c.info("replication"));
        const role = infoField(info, "role");
        return [pod, role === "master" ? "master" : (infoField(info, "master_host") ?? "?")];
      } catch {
        return [pod, "?"];
      }
    }),
  );
  return Object.fromEntries(entries);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the controller reads from its caches", () => {
  it("a steady DR cluster costs no API reads over a window", async (t) => {
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "cached-auth" }, stringData: { password: CLUSTER_PASSWORD } },
    });
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "cached-source" }, stringData: { password: SOURCE_PASSWORD } },
    });
    const writer = source.client();
    for (let i = 0; i < KEYS; i++) await writer.set(`key-${i}`, String(i));
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
          authSecret: { name: "cached-auth" },
          replicaMode: {
            enabled: true,
            source: { host: source.host, port: 6379, clusterName: "prod", authSecretName: "cached-source" },
          },
        },
      },
    });
    for (const pod of PODS) await sb.waitForPodReady(pod, NS, 60_000);
    await waitFor(
      async () => {
        const c = await cluster();
        return c.status?.replication?.linkStatus === "Up" && c.status.readyInstances === 3;
      },
      { timeoutMs: 60_000, what: "replication up, 3 pods ready" },
    );
    for (const pod of PODS) {
      await waitFor(async () => (await onPod(pod, (c) => c.dbsize())) === KEYS, { what: `keys on ${pod}` });
    }
    await sleep(3000); // the last status writes of the start-up settle

    // 10 s at RESYNC_SECONDS=1: about ten reconciles of a replicating cluster, each observing every pod.
    const log = new RequestLog(sb);
    await sleep(10_000);
    const requests = log.stop();
    t.diagnostic(`requests in 10 s: ${JSON.stringify(requests)}`);
    assert.deepEqual(
      requests.filter(isRead),
      [],
      `reads in the window (all requests: ${JSON.stringify(requests)})`,
    );
  });

  it("a cache held behind during a promotion never points a pod at the wrong primary, and loses no key", async () => {
    const leaderIp = sb.podIP("cached-0");
    assert.ok(leaderIp);
    const podIps = new Set(PODS.map((pod) => sb.podIP(pod)));
    const seen: Record<string, string>[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        seen.push(await targets());
        await sleep(50);
      }
    })();
    const log = new RequestLog(sb);
    // Every watch event (the spec change, each status write, pod changes) reaches the controller 4 s late,
    // more than the resync period: each reconcile until then starts from a cache that is behind.
    sb.delayWatchEvents(4000);
    try {
      await custom.patchNamespacedCustomObject(
        { ...group, name: NAME, body: { spec: { replicaMode: { promote: true } } } },
        merge,
      );
      await waitFor(
        async () => {
          const c = await cluster();
          return c.status?.promotion?.phase === "Completed" && c.status.currentPrimary === "cached-0";
        },
        { timeoutMs: 60_000, what: "promotion completed" },
      );
      await sleep(6000); // more reconciles while the cache still trails the last status writes
    } finally {
      sb.delayWatchEvents(0);
      sampling = false;
      await sampler;
    }
    const requests = log.stop();
    // The controller did meet its own status writes missing from the cache, and read the cluster afresh.
    assert.ok(
      requests.some((r) => r === `GET redisclusters/${NAME}`),
      `no fresh read of the cluster: ${JSON.stringify(requests)}`,
    );

    // Every pod only ever followed the source, a pod of its own cluster (the leader, or one ahead of it
    // during the catch-up), the parking address (held off the source during the catch-up) or nothing (a
    // primary); once cached-0 was a primary, nobody followed the source.
    let promoted = false;
    for (const sample of seen) {
      for (const [pod, target] of Object.entries(sample)) {
        assert.ok(
          target === "master" ||
            target === "?" ||
            target === source.host ||
            target === HOLD_UPSTREAM.host ||
            podIps.has(target),
          `${pod} followed ${target}`,
        );
        if (promoted) assert.notEqual(target, source.host, `${pod} followed the source after the promotion`);
      }
      if (sample["cached-0"] === "master") promoted = true;
    }
    assert.ok(promoted, "cached-0 was never seen as a primary");

    const final = await targets();
    assert.deepEqual(final, { "cached-0": "master", "cached-1": leaderIp, "cached-2": leaderIp });
    for (const pod of PODS.slice(1)) {
      await waitFor(
        async () => infoField(await onPod(pod, (c) => c.info("replication")), "master_link_status") === "up",
        { what: `${pod} linked to the leader` },
      );
    }
    for (const pod of PODS) assert.equal(await onPod(pod, (c) => c.dbsize()), KEYS, `keys on ${pod}`);
  });
  it("a spec change updates the StatefulSet once, and the passes after it write nothing", async () => {
    const apps = sb.kubeConfig.makeApiClient(AppsV1Api);
    const hashOf = async () =>
      (await apps.readNamespacedStatefulSet({ name: NAME, namespace: NS }, asTest)).metadata?.annotations?.[
        SPEC_HASH_ANNOTATION
      ];
    const before = await hashOf();
    const log = new RequestLog(sb);
    // A fourth instance: a new StatefulSet template (replicas), so a new hash.
    await custom.patchNamespacedCustomObject(
      { ...group, name: NAME, body: { spec: { instances: 4 } } },
      merge,
    );
    const expected = statefulSetFor(await cluster()).metadata?.annotations?.[SPEC_HASH_ANNOTATION];
    assert.notEqual(expected, before);
    await waitFor(async () => (await hashOf()) === expected, { what: "the StatefulSet's new spec hash" });
    await sleep(5_000); // five more passes at RESYNC_SECONDS=1
    const writes = log.stop().filter((request) => /^(PUT|PATCH|POST) statefulsets/.test(request));
    // One update: its JSON patch of replicas and template, then the merge patch of its hash annotation
    // (ClusterApi.updateStatefulSet).
    assert.deepEqual(writes, ["PATCH statefulsets/cached", "PATCH statefulsets/cached"]);
    assert.equal(
      (await apps.readNamespacedStatefulSet({ name: NAME, namespace: NS }, asTest)).spec?.replicas,
      4,
    );
  });
});
