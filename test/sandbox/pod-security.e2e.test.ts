/**
 * The pod runner honours securityContext like a kubelet: processes run as runAsUser/runAsGroup with fsGroup
 * as a supplementary group, without capabilities, with no_new_privs, on a read-only root filesystem; volumes
 * are group-owned by fsGroup; runAsNonRoot refuses uid 0 with the kubelet's message. Run on the product's own
 * pod template (controller/kube/resources.ts): Redis and Sentinel still write what they must, and only to
 * their volumes.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AppsV1Api, CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { statefulSetFor, usersSecretFor } from "../../controller/kube/resources.ts";
import { ADMIN_USER } from "../../controller/redis/users.ts";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";
import { startSandbox, waitFor, type TestSandbox } from "../../hack/sandbox/testing.ts";

/** 127.57.0.0/16: this file's sandbox. */
const RANGE = 57;
const NS = "default";
const PASSWORD = "pod-security-password";

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

/** The controller's users Secret (the controller generates it; no controller runs here). */
const USERS = { admin: "admin-pw-57", replication: "replication-pw-57", sentinel: "sentinel-pw-57" };

/** The admin user on a pod's Redis or Sentinel: the commands below are the controller's, not an app's. */
function redis(host: string, port = 6379): Redis {
  const client = new Redis({
    host,
    port,
    username: ADMIN_USER,
    password: USERS.admin,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  clients.push(client);
  return client;
}

/** The fields of /proc/<pid>/status a test reads. */
function processStatus(pid: number): Record<string, string> {
  const status: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const [key, value] = line.split(":\t");
    if (key !== undefined && value !== undefined) status[key] = value.trim();
  }
  return status;
}

const pidOf = (pod: string, container: string): number => {
  const pid = sb.sandbox.kubelet.containerPid(NS, pod, container);
  assert.ok(pid !== undefined, `${pod}/${container} has no process`);
  return pid;
};

const exec = async (pod: string, container: string, script: string) =>
  sb.sandbox.kubelet.exec(NS, pod, ["sh", "-c", script], container);

describe("the product's Redis pod template, run as a kubelet runs it", () => {
  const cluster: RedisCluster = {
    apiVersion: "redis.io/v1",
    kind: "RedisCluster",
    metadata: { name: "secure", namespace: NS, uid: "uid-secure" },
    spec: { instances: 1, mode: "sentinel", storage: { size: "1Gi" }, authSecret: { name: "secure-auth" } },
  };
  let ip = "";
  let pvcDir = "";

  before(async () => {
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "secure-auth" }, stringData: { password: PASSWORD } },
    });
    const users = usersSecretFor(cluster, USERS);
    delete users.metadata?.ownerReferences;
    await core.createNamespacedSecret({ namespace: NS, body: users });
    const sts = statefulSetFor(cluster);
    delete sts.metadata?.ownerReferences; // no RedisCluster object here: the garbage collector would act
    await apps.createNamespacedStatefulSet({ namespace: NS, body: sts });
    ip = await sb.waitForPodReady("secure-0", NS);
    pvcDir = join(sb.dir, "pvcs", NS, "data-secure-0");
  });

  test("redis-server and redis-sentinel run as 999:999 with fsGroup 999, no capabilities, no_new_privs", () => {
    for (const container of ["redis", "sentinel"]) {
      const status = processStatus(pidOf("secure-0", container));
      assert.match(status["Name"] ?? "", container === "redis" ? /^redis-server/ : /^redis-sentinel/);
      assert.equal(status["Uid"], "999\t999\t999\t999", container);
      assert.equal(status["Gid"], "999\t999\t999\t999", container);
      assert.equal(status["Groups"], "999", container);
      assert.equal(status["CapEff"], "0000000000000000", container);
      assert.equal(status["CapPrm"], "0000000000000000", container);
      assert.equal(status["CapBnd"], "0000000000000000", container);
      assert.equal(status["NoNewPrivs"], "1", container);
    }
  });

  test("Redis writes its RDB and AOF to its claim, owned by its user and fsGroup", async () => {
    const client = redis(ip);
    // Pods boot parked as replicas; the controller would give this one its role.
    await client.replicaof("NO", "ONE");
    await client.set("k", "v");
    assert.equal(await client.save(), "OK");
    assert.equal(await client.bgrewriteaof(), "Background append only file rewriting started");
    await waitFor(
      async () => /aof_rewrite_in_progress:0/.test(await client.info("persistence")) || undefined,
      { what: "the AOF rewrite to finish" },
    );
    assert.match(await client.info("persistence"), /aof_last_bgrewrite_status:ok/);
    const rdb = statSync(join(pvcDir, "dump.rdb"));
    assert.deepEqual([rdb.uid, rdb.gid], [999, 999]);
    const aofDir = join(pvcDir, "appendonlydir");
    assert.ok(readdirSync(aofDir).some((file) => file.endsWith(".aof")));
    const claim = statSync(pvcDir);
    assert.equal(claim.gid, 999);
    assert.equal(claim.mode & 0o2070, 0o2070, "setgid, group rwx");
  });

  test("Sentinel rewrites its config on its volume (SENTINEL MONITOR, SENTINEL SET persist)", async () => {
    const sentinel = redis(ip, 26379);
    await sentinel.call("SENTINEL", "MONITOR", "secure", ip, "6379", "1");
    await sentinel.call("SENTINEL", "SET", "secure", "down-after-milliseconds", "4321");
    const volume = join(sb.dir, "pods");
    const podDir = readdirSync(volume).find((dir) => dir.startsWith(`${NS}_secure-0_`));
    assert.ok(podDir);
    const conf = readFileSync(join(volume, podDir, "volumes", "sentinel", "sentinel.conf"), "utf8");
    assert.match(conf, new RegExp(`sentinel monitor secure ${ip.replaceAll(".", "\\.")} 6379 1`));
    assert.match(conf, /sentinel down-after-milliseconds secure 4321/);
    await sentinel.call("SENTINEL", "REMOVE", "secure");
  });

  test("nothing outside the volumes is writable: the root filesystem is read-only, for Redis itself too", async () => {
    const redisFs = await exec(
      "secure-0",
      "redis",
      "id -u; touch /data/ok && echo data-ok; echo x > /etc/redis-dr/run/probe && echo config-ok; " +
        "touch /etc/nope 2>&1; touch /tmp/nope 2>&1; touch /nope 2>&1; true",
    );
    assert.equal(redisFs.code, 0, redisFs.output);
    const lines = redisFs.output.trim().split("\n");
    assert.deepEqual(lines.slice(0, 3), ["999", "data-ok", "config-ok"]);
    assert.equal(lines.length, 6, redisFs.output);
    for (const line of lines.slice(3)) assert.match(line, /Read-only file system/);
    // Redis and Sentinel did all of the above (start, save, rewrite the AOF and sentinel.conf) without one
    // failed write: everything they write is on a volume.
    for (const container of ["redis", "sentinel"]) {
      const log = readFileSync(sb.sandbox.kubelet.logFile(NS, "secure-0", container) ?? "", "utf8");
      assert.ok(log.length > 0, container);
      assert.doesNotMatch(log, /Read-only file system|Permission denied|Failed|Can't/i, container);
    }
    // Only the container's view is read-only: the host's filesystem is not.
    const hostFile = join(sb.dir, "host-still-writable");
    writeFileSync(hostFile, "x");
    rmSync(hostFile);
  });
});

describe("securityContext on plain pods", () => {
  const waitingOf = async (name: string) =>
    waitFor(
      async () => {
        const pod: V1Pod = await core.readNamespacedPod({ name, namespace: NS });
        return pod.status?.containerStatuses?.[0]?.state?.waiting?.reason === "CreateContainerConfigError"
          ? pod
          : undefined;
      },
      { what: `${name} refused by runAsNonRoot` },
    );

  test("runAsNonRoot refuses an image that runs as root, and runAsUser 0, with the kubelet's messages", async () => {
    const pod = (name: string, securityContext: object) =>
      core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { name },
          spec: { containers: [{ name: "redis", image: "redis:7.2", securityContext }] },
        },
      });
    const image = await pod("image-root", { runAsNonRoot: true });
    const explicit = await pod("uid-zero", { runAsNonRoot: true, runAsUser: 0 });
    const imageRoot = await waitingOf("image-root");
    assert.equal(imageRoot.status?.phase, "Pending");
    assert.equal(
      imageRoot.status?.containerStatuses?.[0]?.state?.waiting?.message,
      `container has runAsNonRoot and image will run as root (pod: "image-root_default(${image.metadata?.uid})", container: redis)`,
    );
    assert.equal(
      (await waitingOf("uid-zero")).status?.containerStatuses?.[0]?.state?.waiting?.message,
      `container's runAsUser breaks non-root policy (pod: "uid-zero_default(${explicit.metadata?.uid})", container: redis)`,
    );
    const events = await core.listNamespacedEvent({
      namespace: NS,
      fieldSelector: "involvedObject.name=image-root",
    });
    assert.ok(
      events.items.some(
        (e) => e.reason === "Failed" && e.message?.startsWith("Error: container has runAsNonRoot"),
      ),
    );
    assert.equal(sb.sandbox.kubelet.containerPid(NS, "image-root", "redis"), undefined);
  });

  test("fsGroup: Secret files get the group's read bit, emptyDir files the group; the user is in fsGroup", async () => {
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "files" }, stringData: { key: "s3cret" } },
    });
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "files" },
        spec: {
          securityContext: { runAsUser: 1234, runAsGroup: 1234, fsGroup: 4321, runAsNonRoot: true },
          containers: [
            {
              name: "shell",
              image: "busybox",
              command: ["sleep", "3600"],
              volumeMounts: [
                { name: "secret", mountPath: "/secret", readOnly: true },
                { name: "scratch", mountPath: "/scratch" },
              ],
            },
          ],
          volumes: [
            { name: "secret", secret: { secretName: "files", defaultMode: 0o400 } },
            { name: "scratch", emptyDir: {} },
          ],
        },
      },
    });
    await sb.waitForPodReady("files", NS);
    const shell = await exec(
      "files",
      "shell",
      "id -u; id -G; stat -c '%a %g' /secret/key; cat /secret/key; echo; echo hi > /scratch/f && stat -c '%u %g' /scratch/f",
    );
    // The file stays root's: user 1234 reads it through the group (0400 | the kubelet's 0440 mask).
    assert.equal(shell.output, "1234\n1234 4321\n440 4321\ns3cret\n1234 4321\n");
  });
});
