/**
 * The cluster API wrapper and the Lease leader election against the sandbox's real API server
 * (loopback range 127.29.0.0/16: API server only, no pods; a proxy in front of it on 127.69.2.1).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  V1MicroTime,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { pino } from "pino";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import {
  ClusterApi,
  SpecChangedError,
  TRUNCATED_MARKER,
  truncateUtf8,
} from "../../../controller/kube/cluster-api.ts";
import { SPEC_HASH_ANNOTATION, statefulSetFor } from "../../../controller/kube/resources.ts";
import { LeaderElector, decideLease } from "../../../controller/watch/leader-election.ts";
import { freePort, startSandbox, waitFor, type TestSandbox } from "../../../hack/sandbox/testing.ts";

let sb: TestSandbox;
let api: ClusterApi;
const group = { group: "redis.io", version: "v1", namespace: "default", plural: "redisclusters" };

before(async () => {
  sb = await startSandbox({ range: 29 });
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

  it("writes nothing and throws SpecChangedError when the conflict was a spec change", async () => {
    await createCluster("status-b");
    await api.patchStatus("default", "status-b", (s) => ({ ...s, currentPrimary: "status-b-0" }));
    const decidedOn = (await api.readCluster("default", "status-b")) as RedisCluster;
    // A promotion requested while the pass runs: a new generation, and a new resourceVersion.
    await sb.kubeConfig
      .makeApiClient(CustomObjectsApi)
      .patchNamespacedCustomObject(
        { ...group, name: "status-b", body: { spec: { instances: 2 } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    let runs = 0;
    await assert.rejects(
      api.patchStatus(
        "default",
        "status-b",
        (s) => {
          runs++;
          return { ...s, readyInstances: 1 };
        },
        decidedOn,
      ),
      (error: unknown) =>
        error instanceof SpecChangedError &&
        error.message === "default/status-b: the spec changed (generation 1 → 2) during the pass",
    );
    assert.equal(runs, 1, "the transaction is not re-applied to the new generation");
    const now = await api.readCluster("default", "status-b");
    assert.deepEqual(now?.status, { currentPrimary: "status-b-0" });
    assert.equal(now?.metadata?.generation, 2);
  });

  it("reads a password less one trailing newline, as the pods do; only a newline is an empty password", async () => {
    const core = sb.kubeConfig.makeApiClient(CoreV1Api);
    const data = (text: string) => Buffer.from(text).toString("base64");
    await core.createNamespacedSecret({
      namespace: "default",
      body: {
        metadata: { name: "from-file" },
        data: { password: data("pw 1\n"), crlf: data("pw 2\r\n"), two: data("pw 3\n\n"), empty: data("\n") },
      },
    });
    assert.deepEqual(await api.secretPassword("default", "from-file"), { kind: "found", value: "pw 1" });
    assert.deepEqual(await api.secretValue("default", "from-file", "crlf"), { kind: "found", value: "pw 2" });
    assert.deepEqual(await api.secretValue("default", "from-file", "two"), {
      kind: "found",
      value: "pw 3\n",
    });
    assert.deepEqual(await api.secretValue("default", "from-file", "empty"), {
      kind: "missing",
      reason: 'Secret from-file has an empty "empty"',
    });
  });

  it("reports a missing Secret or key without throwing", async () => {
    assert.deepEqual(await api.secretPassword("default", "nope"), {
      kind: "missing",
      reason: "Secret nope not found",
    });
  });

  it("sends one read for callers asking while it is on its way, and a new read for a later caller", async () => {
    const core = sb.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespacedSecret({
      namespace: "default",
      body: { metadata: { name: "shared" }, stringData: { password: "pw a" } },
    });
    let reads = 0;
    const stop = sb.sandbox.api.onRequest((req) => {
      if (req.method === "GET" && req.url?.startsWith("/api/v1/namespaces/default/secrets/shared")) reads++;
    });
    try {
      // secretRefreshMs 0: every call that finds no read on its way goes to the API server.
      const fresh = new ClusterApi(sb.kubeConfig);
      const answers = await Promise.all([
        fresh.secretPassword("default", "shared"),
        fresh.secretPassword("default", "shared"),
        fresh.secretValue("default", "shared", "password"),
      ]);
      assert.deepEqual(answers, Array(3).fill({ kind: "found", value: "pw a" }));
      assert.equal(reads, 1);
      await core.patchNamespacedSecret(
        { namespace: "default", name: "shared", body: { stringData: { password: "pw b" } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      assert.deepEqual(await fresh.secretPassword("default", "shared"), { kind: "found", value: "pw b" });
      assert.equal(reads, 2);
    } finally {
      stop();
    }
  });
});

describe("updateStatefulSet", () => {
  /** Without the keys client-node's model classes fill with undefined. */
  const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value ?? null));
  const clusterWith = (spec: Partial<RedisCluster["spec"]>): RedisCluster => ({
    apiVersion: "redis.io/v1",
    kind: "RedisCluster",
    metadata: { name: "sts-a", namespace: "default", uid: "6a0c7a4e-0000-4000-8000-000000000001" },
    // No pods: this is about the object only.
    spec: { instances: 0, ...spec },
  });

  it("removes what the new template no longer has, and keeps the fields the controller does not own", async () => {
    const apps = sb.kubeConfig.makeApiClient(AppsV1Api);
    await api.createStatefulSet(
      "default",
      statefulSetFor(
        clusterWith({
          nodeSelector: { zone: "a" },
          resources: { limits: { memory: "1Gi" }, requests: { memory: "512Mi" } },
          authSecret: { name: "dr-auth" },
        }),
      ),
    );
    // Someone else's fields, which the update must leave alone.
    await apps.patchNamespacedStatefulSet(
      {
        namespace: "default",
        name: "sts-a",
        body: { metadata: { annotations: { "example.com/team": "cache" } }, spec: { minReadySeconds: 7 } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const desired = statefulSetFor(
      clusterWith({ nodeSelector: { disk: "ssd" }, resources: { requests: { memory: "512Mi" } } }),
    );
    await api.updateStatefulSet("default", "sts-a", desired);

    const live = await apps.readNamespacedStatefulSet({ namespace: "default", name: "sts-a" });
    assert.deepEqual(plain(live?.spec?.template.spec?.nodeSelector), { disk: "ssd" });
    const redis = live?.spec?.template.spec?.containers.find((c) => c.name === "redis");
    assert.deepEqual(plain(redis?.resources), { requests: { memory: "512Mi" } });
    assert.deepEqual(plain(redis?.env ?? []), []);
    assert.deepEqual(plain(live?.spec?.template), plain(desired.spec?.template));
    assert.equal(live?.spec?.replicas, 0);
    assert.equal(live?.spec?.minReadySeconds, 7);
    assert.deepEqual(plain(live?.metadata?.annotations), {
      [SPEC_HASH_ANNOTATION]: desired.metadata?.annotations?.[SPEC_HASH_ANNOTATION],
      "example.com/team": "cache",
    });
  });
});

describe("recordEvent", () => {
  const clusterNamed = (name: string): RedisCluster => ({
    apiVersion: "redis.io/v1",
    kind: "RedisCluster",
    metadata: { name, namespace: "default", uid: "6a0c7a4e-0000-4000-8000-000000000002" },
    spec: { instances: 1 },
  });
  /** The one Event about `name` as the API server received it: the serialized body, not a parsed copy. */
  const storedEvent = (name: string): Record<string, unknown> => {
    const events = sb.sandbox.core.store
      .list("/events", "default")
      .filter((event) => (event.involvedObject as { name?: unknown } | undefined)?.name === name);
    assert.equal(events.length, 1);
    return events[0] as Record<string, unknown>;
  };

  it("sends eventTime as a MicroTime with six fractional digits, and cuts a long message to 1024 bytes", async () => {
    const before = Date.now();
    await api.recordEvent(clusterNamed("events-a"), "Warning", "ReplicationBroken", "x".repeat(5000));
    const event = storedEvent("events-a");
    assert.match(String(event.eventTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(Date.parse(String(event.eventTime)) >= Math.floor(before / 1000) * 1000);
    assert.equal(event.message, "x".repeat(1024 - Buffer.byteLength(TRUNCATED_MARKER)) + TRUNCATED_MARKER);
    assert.equal(Buffer.byteLength(String(event.message)), 1024);
    assert.deepEqual(
      [event.type, event.reason, event.action, event.reportingComponent, event.reportingInstance],
      ["Warning", "ReplicationBroken", "ReplicationBroken", "redis-dr-controller", "redis-dr-controller"],
    );
  });

  it("cuts a long reason (and action) to 128 bytes, and never splits a UTF-8 character", async () => {
    // "é" is 2 bytes and "𝄞" 4 (a surrogate pair in JavaScript): the budget ends inside an "é".
    const message = "é𝄞".repeat(300);
    await api.recordEvent(clusterNamed("events-b"), "Normal", "R".repeat(200), message);
    const event = storedEvent("events-b");
    const kept = String(event.message).slice(0, -TRUNCATED_MARKER.length);
    assert.ok(message.startsWith(kept));
    assert.ok(!kept.includes("\uFFFD") && !/[\uD800-\uDBFF]$/.test(kept));
    assert.ok(Buffer.byteLength(String(event.message)) <= 1024);
    assert.ok(Buffer.byteLength(kept + "é") + Buffer.byteLength(TRUNCATED_MARKER) > 1024);
    assert.equal(event.reason, "R".repeat(128 - Buffer.byteLength(TRUNCATED_MARKER)) + TRUNCATED_MARKER);
    assert.equal(event.action, event.reason);
  });

  it("truncateUtf8 leaves what fits alone and cuts at a character boundary", () => {
    assert.equal(truncateUtf8("é".repeat(512), 1024), "é".repeat(512));
    assert.equal(truncateUtf8("é".repeat(513), 1024), "é".repeat(504) + TRUNCATED_MARKER);
    // 1009 bytes of budget: 252 whole "𝄞", not a lone half of the 253rd's surrogate pair.
    assert.equal(truncateUtf8("𝄞".repeat(300), 1024), "𝄞".repeat(252) + TRUNCATED_MARKER);
  });

  it("refuses a component that is not a qualified name (the API server would refuse every Event)", () => {
    assert.throws(() => new ClusterApi(sb.kubeConfig, "redis dr"), {
      message: 'component "redis dr" is not a qualified name',
    });
    assert.ok(new ClusterApi(sb.kubeConfig, "redis.io/dr-controller"));
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

  const silent = pino({ level: "silent" });
  const readLease = (name: string) =>
    sb.kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: "default", name });
  /** Resolves with the reason `elector` gives for losing the Lease. */
  const lossOf = async (elector: LeaderElector): Promise<string> => {
    let reason: string | undefined;
    assert.equal(
      await elector.campaign((why) => {
        reason = why;
      }),
      true,
    );
    return waitFor(() => reason, { timeoutMs: 30_000, what: "the loss of the Lease" });
  };

  it("reports the loss at once when another holder takes the Lease", async () => {
    const leader = new LeaderElector(
      sb.kubeConfig,
      {
        namespace: "default",
        name: "taken-lease",
        identity: "first",
        leaseDurationSeconds: 6,
        renewEveryMs: 200,
      },
      silent,
    );
    try {
      const lost = lossOf(leader);
      await waitFor(async () => (await readLease("taken-lease")).spec?.holderIdentity === "first");
      // Another controller forcibly takes it, as `kubectl edit lease` or a buggy candidate would.
      const lease = await readLease("taken-lease");
      await sb.kubeConfig.makeApiClient(CoordinationV1Api).replaceNamespacedLease({
        namespace: "default",
        name: "taken-lease",
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: "usurper", renewTime: new V1MicroTime(Date.now()) },
        },
      });
      assert.equal(await lost, "another candidate holds the Lease");
      assert.equal(await leader.tryAcquireOrRenew(), false);
    } finally {
      leader.stop();
    }
  });

  it("reports the loss within the renew deadline when its API calls hang, before anyone may take over", async () => {
    const proxy = new FreezingProxy("127.69.2.1", await freePort("127.69.2.1"), new URL(sb.apiUrl));
    await proxy.start();
    const cluster = sb.kubeConfig.getCurrentCluster();
    assert.ok(cluster);
    const viaProxy = new KubeConfig();
    viaProxy.loadFromOptions({
      // The API server's certificate names localhost, not the proxy's address.
      clusters: [{ ...cluster, server: `https://${proxy.host}:${proxy.port}`, tlsServerName: "localhost" }],
      users: sb.kubeConfig.users,
      contexts: sb.kubeConfig.contexts,
      currentContext: sb.kubeConfig.currentContext,
    });
    const logLines: string[] = [];
    const leader = new LeaderElector(
      viaProxy,
      {
        namespace: "default",
        name: "hung-lease",
        identity: "first",
        leaseDurationSeconds: 8,
        renewDeadlineMs: 2000,
        renewEveryMs: 200,
      },
      pino({ level: "warn" }, { write: (line: string) => void logLines.push(line) }),
    );
    try {
      const lost = lossOf(leader);
      await waitFor(async () => (await readLease("hung-lease")).spec?.holderIdentity === "first");
      proxy.freeze();
      assert.equal(await lost, "the Lease was not renewed within the renew deadline of 2000 ms");
      // Each hung attempt was abandoned after half the deadline, so the next one could run.
      const failures = logLines
        .map((line) => JSON.parse(line) as { msg: string; err?: { type?: string } })
        .filter((entry) => entry.msg === "lease renewal failed");
      assert.ok(failures.length >= 1);
      assert.deepEqual(new Set(failures.map((entry) => entry.err?.type)), new Set(["AbortError"]));
      // Given up while the Lease still keeps the others waiting: a candidate that saw its last renewal waits
      // the Lease's 8 s from then, so there is no moment with two leaders (one clock here: no skew).
      const held = await readLease("hung-lease");
      const renewedAt = new Date(held.spec?.renewTime ?? 0).getTime();
      assert.equal(decideLease(held, "second", renewedAt, Date.now()), "wait");
    } finally {
      leader.stop();
      await proxy.stop();
    }
  });
});

/** A TCP proxy that can freeze: connections stay open and nothing answers, like a hung API server. */
class FreezingProxy {
  private readonly server = net.createServer((client) => this.accept(client));
  private readonly sockets = new Set<net.Socket>();
  private frozen = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly target: URL,
  ) {}

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, this.host, () => resolve());
    });
  }

  private accept(client: net.Socket): void {
    this.track(client);
    if (this.frozen) return;
    const upstream = net.connect(Number(this.target.port), this.target.hostname);
    this.track(upstream);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => this.sockets.delete(socket));
  }

  freeze(): void {
    this.frozen = true;
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
