/**
 * The pod runner: a StatefulSet of real Redis pods, each on its own loopback IP, with config from a
 * ConfigMap, the password from a Secret through env, data on its PVC; pods that crash or are deleted come
 * back with their data; nothing is left running after the sandbox stops.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { startSandbox, waitFor, type TestSandbox } from "../../hack/sandbox/testing.ts";

/** 127.13.0.0/16: this file's sandbox. */
const RANGE = 13;
const NS = "default";
const PASSWORD = "pod-test-password";

let sb: TestSandbox;
let core: CoreV1Api;
let apps: AppsV1Api;
const clients: Redis[] = [];

before(async () => {
  sb = await startSandbox({ range: RANGE });
  core = sb.kubeConfig.makeApiClient(CoreV1Api);
  apps = sb.kubeConfig.makeApiClient(AppsV1Api);
});
after(async () => {
  for (const client of clients) client.disconnect();
  await sb?.stop();
});

function redis(host: string, password: string | undefined = PASSWORD): Redis {
  const client = new Redis({
    host,
    port: 6379,
    ...(password ? { password } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  clients.push(client);
  return client;
}

async function createRedisStatefulSet(name: string): Promise<void> {
  await core.createNamespacedConfigMap({
    namespace: NS,
    body: { metadata: { name: `${name}-config` }, data: { "redis.conf": 'appendonly yes\nsave ""\n' } },
  });
  await core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: `${name}-auth` }, stringData: { password: PASSWORD } },
  });
  await core.createNamespacedService({
    namespace: NS,
    body: {
      metadata: { name },
      spec: { clusterIP: "None", selector: { app: name }, ports: [{ name: "redis", port: 6379 }] },
    },
  });
  await apps.createNamespacedStatefulSet({
    namespace: NS,
    body: {
      metadata: { name },
      spec: {
        replicas: 3,
        serviceName: name,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [
              {
                name: "redis",
                image: "redis:7.2",
                // The password reaches redis-server through a config include, never its command line.
                command: [
                  "sh",
                  "-c",
                  'printf "requirepass %s\\n" "$REDIS_PASSWORD" > /tmp/auth.conf && exec redis-server /etc/redis/redis.conf --include /tmp/auth.conf',
                ],
                env: [
                  {
                    name: "REDIS_PASSWORD",
                    valueFrom: { secretKeyRef: { name: `${name}-auth`, key: "password" } },
                  },
                  { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                ],
                ports: [{ name: "redis", containerPort: 6379 }],
                readinessProbe: {
                  exec: {
                    command: ["sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG'],
                  },
                  periodSeconds: 1,
                },
                volumeMounts: [
                  { name: "config", mountPath: "/etc/redis" },
                  { name: "data", mountPath: "/data" },
                ],
              },
            ],
            volumes: [{ name: "config", configMap: { name: `${name}-config` } }],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: "data" },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
          },
        ],
      },
    },
  });
}

const restarts = (pod: V1Pod) => pod.status?.containerStatuses?.[0]?.restartCount ?? -1;

describe("a StatefulSet of Redis pods", () => {
  const ips: string[] = [];

  test("comes up with three pods, each answering PING on its own podIP, with a PVC each", async () => {
    await createRedisStatefulSet("cache");
    for (const ordinal of [0, 1, 2]) ips.push(await sb.waitForPodReady(`cache-${ordinal}`));
    assert.equal(new Set(ips).size, 3);
    for (const ip of ips) {
      assert.match(ip, /^127\.13\.\d+\.\d+$/);
      assert.equal(await redis(ip).ping(), "PONG");
    }
    const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: "app=cache" });
    assert.deepEqual(
      pods.items.map((p) => [p.metadata?.name, p.status?.phase, p.status?.podIP]),
      [0, 1, 2].map((ordinal) => [`cache-${ordinal}`, "Running", ips[ordinal]]),
    );
    const pvcs = await core.listNamespacedPersistentVolumeClaim({ namespace: NS });
    assert.deepEqual(
      pvcs.items.map((p) => p.metadata?.name),
      ["data-cache-0", "data-cache-1", "data-cache-2"],
    );
    const sts = await waitFor(async () => {
      const s = await apps.readNamespacedStatefulSet({ name: "cache", namespace: NS });
      return s.status?.readyReplicas === 3 ? s : undefined;
    });
    assert.deepEqual([sts.status?.replicas, sts.status?.observedGeneration], [3, 1]);
  });

  test("runs each pod in its own mount namespace with its volumes, env and hostname", async () => {
    const { code, output } = await sb.exec("cache-1", NS, [
      "sh",
      "-c",
      'hostname; cat /etc/redis/redis.conf | head -1; echo "$POD_IP"; ls /data',
    ]);
    assert.equal(code, 0);
    assert.equal(output, `cache-1\nappendonly yes\n${ips[1] ?? ""}\nappendonlydir\n`);
  });

  test("a deleted pod is recreated with the same name and its data", async () => {
    const before = redis(ips[0] ?? "");
    await before.set("survives", "the delete");
    const old = await core.readNamespacedPod({ name: "cache-0", namespace: NS });
    await core.deleteNamespacedPod({ name: "cache-0", namespace: NS });
    await waitFor(
      async () => {
        const pod = await core.readNamespacedPod({ name: "cache-0", namespace: NS }).catch(() => undefined);
        return pod && pod.metadata?.uid !== old.metadata?.uid;
      },
      { what: "a new cache-0" },
    );
    const ip = await sb.waitForPodReady("cache-0");
    assert.equal(await redis(ip).get("survives"), "the delete");
  });

  test("a container killed with SIGKILL is restarted by the kubelet, with its data; the pod stays Running", async (t) => {
    await redis(sb.podIP("cache-2") ?? "").set("after", "crash");
    // Every status the kubelet writes for cache-2 from now on: phase, Ready, the container's state.
    const statuses: string[] = [];
    const unsubscribe = sb.sandbox.core.store.onChange((change) => {
      if (change.key !== "/pods" || change.object.metadata.name !== "cache-2") return;
      const status = change.object.status as V1Pod["status"];
      const ready = status?.conditions?.find((c) => c.type === "Ready")?.status;
      const state = status?.containerStatuses?.[0]?.state ?? {};
      const detail = state.waiting?.reason ?? (state.running ? "running" : "terminated");
      statuses.push(`${status?.phase ?? ""} ready=${ready ?? ""} ${detail}`);
    });
    t.after(unsubscribe);
    sb.killPod("cache-2");
    const pod = await waitFor(
      async () => {
        const p = await core.readNamespacedPod({ name: "cache-2", namespace: NS });
        return restarts(p) === 1 &&
          p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
          ? p
          : undefined;
      },
      { what: "cache-2 to restart" },
    );
    assert.equal(pod.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 137);
    assert.equal(await redis(pod.status?.podIP ?? "").get("after"), "crash");
    // As on a kubelet with restartPolicy Always: a crashed container waits in CrashLoopBackOff and the pod
    // is not Ready meanwhile, but its phase stays Running throughout.
    assert.ok(
      statuses.includes("Running ready=False CrashLoopBackOff"),
      `a not-ready CrashLoopBackOff status: ${statuses.join("; ")}`,
    );
    assert.deepEqual(new Set(statuses.map((s) => s.split(" ")[0])), new Set(["Running"]));
    assert.equal(statuses.at(-1), "Running ready=True running");
  });

  test("a paused pod stops answering and becomes unready; resumed, it is ready again", async () => {
    const ip = sb.podIP("cache-1") ?? "";
    sb.pausePod("cache-1");
    await waitFor(
      async () => {
        const p = await core.readNamespacedPod({ name: "cache-1", namespace: NS });
        return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "False");
      },
      { what: "cache-1 to become unready" },
    );
    sb.resumePod("cache-1");
    assert.equal(await sb.waitForPodReady("cache-1"), ip);
    assert.equal(await redis(ip).ping(), "PONG");
  });
});

describe("a pod's volumes, init containers and environment", () => {
  test("Secret, ConfigMap (subPath) and emptyDir volumes, envFrom, and an init container that prepares files", async () => {
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "tls" }, stringData: { "tls.crt": "CERT", "tls.key": "KEY" } },
    });
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "conf" }, data: { "redis.conf": "port 6379\n", MODE: "replica" } },
    });
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "volumes" },
        spec: {
          initContainers: [
            {
              name: "prepare",
              image: "busybox",
              command: ["sh", "-c", "echo prepared > /work/ready"],
              volumeMounts: [{ name: "work", mountPath: "/work" }],
            },
          ],
          containers: [
            {
              name: "redis",
              image: "redis:7.2",
              args: ["/usr/local/etc/redis/redis.conf"],
              readinessProbe: { tcpSocket: { port: 6379 }, periodSeconds: 1 },
              envFrom: [{ configMapRef: { name: "conf" }, prefix: "CFG_" }],
              volumeMounts: [
                { name: "tls", mountPath: "/tls", readOnly: true },
                { name: "conf", mountPath: "/usr/local/etc/redis/redis.conf", subPath: "redis.conf" },
                { name: "work", mountPath: "/work" },
              ],
            },
          ],
          volumes: [
            { name: "tls", secret: { secretName: "tls" } },
            { name: "conf", configMap: { name: "conf" } },
            { name: "work", emptyDir: {} },
          ],
        },
      },
    });
    const ip = await sb.waitForPodReady("volumes");
    const { output } = await sb.exec("volumes", NS, [
      "sh",
      "-c",
      'cat /tls/tls.crt; echo; cat /work/ready; echo "$CFG_MODE"; touch /tls/x 2>/dev/null || echo read-only',
    ]);
    assert.equal(output, "CERT\nprepared\nreplica\nread-only\n");
    assert.equal(await redis(ip, undefined).ping(), "PONG");
    const pod = await core.readNamespacedPod({ name: "volumes", namespace: NS });
    assert.deepEqual(
      pod.status?.initContainerStatuses?.map((c) => [c.name, c.state?.terminated?.exitCode]),
      [["prepare", 0]],
    );
  });
});

describe("pod phase", () => {
  const busybox = (name: string, script: string, volumes: unknown[] = []) =>
    core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name },
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "main",
              image: "busybox",
              command: ["sh", "-c", script],
              ...(volumes.length > 0 ? { volumeMounts: [{ name: "secret", mountPath: "/secret" }] } : {}),
            },
          ],
          volumes: volumes as never,
        },
      },
    });
  const phaseOf = async (name: string, phase: string) =>
    waitFor(
      async () => {
        const pod = await core.readNamespacedPod({ name, namespace: NS });
        return pod.status?.phase === phase ? pod : undefined;
      },
      { what: `pod ${name} to be ${phase}` },
    );

  test("is Pending while a volume's Secret is missing, then Running once it exists", async () => {
    await busybox("waits", "sleep 3600", [{ name: "secret", secret: { secretName: "late" } }]);
    const pending = await waitFor(
      async () => {
        const pod = await core.readNamespacedPod({ name: "waits", namespace: NS });
        return pod.status?.containerStatuses?.[0]?.state?.waiting ? pod : undefined;
      },
      { what: "waits to report its waiting container" },
    );
    const waiting = pending.status?.containerStatuses?.[0]?.state?.waiting;
    assert.deepEqual(
      [pending.status?.phase, waiting?.reason, waiting?.message],
      ["Pending", "ContainerCreating", 'secret "late" not found'],
    );
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "late" }, stringData: { key: "value" } },
    });
    const running = await phaseOf("waits", "Running");
    assert.ok(running.status?.containerStatuses?.[0]?.state?.running);
  });

  test("with restartPolicy Never, is Succeeded when its container exits 0 and Failed otherwise", async () => {
    await busybox("succeeds", "exit 0");
    await busybox("fails", "exit 3");
    const succeeded = await phaseOf("succeeds", "Succeeded");
    const failed = await phaseOf("fails", "Failed");
    assert.deepEqual(
      [succeeded, failed].map((pod) => {
        const status = pod.status?.containerStatuses?.[0];
        return [status?.state?.terminated?.exitCode, status?.state?.terminated?.reason, status?.restartCount];
      }),
      [
        [0, "Completed", 0],
        [3, "Error", 0],
      ],
    );
  });
});

describe("StatefulSet updates", () => {
  test("a template change rolls the pods from the highest ordinal, keeping their data", async () => {
    await redis(sb.podIP("cache-0") ?? "").set("rolled", "kept");
    const before = await apps.readNamespacedStatefulSet({ name: "cache", namespace: NS });
    await apps.patchNamespacedStatefulSet(
      {
        name: "cache",
        namespace: NS,
        body: { spec: { template: { metadata: { annotations: { "rolled-at": "now" } } } } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
    const rolled = await waitFor(
      async () => {
        const s = await apps.readNamespacedStatefulSet({ name: "cache", namespace: NS });
        return s.status?.updatedReplicas === 3 &&
          s.status.readyReplicas === 3 &&
          s.status.observedGeneration === 2
          ? s
          : undefined;
      },
      { timeoutMs: 30_000, what: "the rolling update" },
    );
    assert.notEqual(rolled.status?.updateRevision, before.status?.updateRevision);
    const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: "app=cache" });
    assert.deepEqual(
      pods.items.map((p) => [
        p.metadata?.name,
        p.metadata?.annotations?.["rolled-at"],
        p.metadata?.labels?.["controller-revision-hash"],
      ]),
      ["cache-0", "cache-1", "cache-2"].map((name) => [
        name,
        "now",
        rolled.status?.updateRevision?.replace("cache-", ""),
      ]),
    );
    assert.equal(await redis(await sb.waitForPodReady("cache-0")).get("rolled"), "kept");
  });

  test("scaling down (through the scale subresource) removes the highest ordinal and keeps its PVC", async () => {
    const scale = await apps.patchNamespacedStatefulSetScale(
      { name: "cache", namespace: NS, body: { spec: { replicas: 2 } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    assert.deepEqual([scale.kind, scale.spec?.replicas, scale.status?.selector], ["Scale", 2, "app=cache"]);
    await waitFor(
      async () => {
        const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: "app=cache" });
        return pods.items.map((p) => p.metadata?.name).join() === "cache-0,cache-1";
      },
      { what: "cache-2 to go" },
    );
    const pvcs = await core.listNamespacedPersistentVolumeClaim({ namespace: NS });
    assert.deepEqual(
      pvcs.items.map((p) => p.metadata?.name),
      ["data-cache-0", "data-cache-1", "data-cache-2"],
    );
    await apps.patchNamespacedStatefulSet(
      { name: "cache", namespace: NS, body: { spec: { replicas: 3 } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await sb.waitForPodReady("cache-2");
  });
});

describe("stopping the sandbox", () => {
  test("leaves no process behind", async () => {
    const pids = ["cache-0", "cache-1", "cache-2"].map((name) => sb.sandbox.kubelet.containerPid(NS, name));
    assert.ok(pids.every((pid) => typeof pid === "number"));
    await sb.stop();
    for (const pid of pids) {
      assert.throws(() => process.kill(pid ?? 0, 0), { code: "ESRCH" }, `process ${pid ?? 0} is still alive`);
    }
    const bound = execFileSync("ss", ["-Hltn", "src", `127.${RANGE}.0.0/16`], { encoding: "utf8" });
    assert.equal(bound, "");
  });
});
