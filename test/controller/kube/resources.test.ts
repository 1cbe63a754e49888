import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import {
  entrypointScript,
  podDisruptionBudgetFor,
  servicesFor,
  statefulSetFor,
} from "../../../controller/kube/resources.ts";
import { waitFor } from "../helpers/redis-process.ts";

const cluster: RedisCluster = {
  apiVersion: "redis.io/v1",
  kind: "RedisCluster",
  metadata: { name: "dr-redis", namespace: "production", uid: "uid-1" },
  spec: {
    instances: 3,
    storage: { size: "100Gi", storageClass: "fast" },
    authSecret: { name: "dr-redis-auth" },
    nodeSelector: { "topology.kubernetes.io/region": "us-west-2" },
    resources: { limits: { memory: "4Gi" }, requests: { cpu: "500m" } },
  },
};

describe("the StatefulSet of a RedisCluster", () => {
  const sts = statefulSetFor(cluster);
  const pod = sts.spec?.template.spec;
  const container = pod?.containers[0];

  it("runs `instances` pods of the default image on the requested nodes, owned by the RedisCluster", () => {
    assert.equal(sts.spec?.replicas, 3);
    assert.equal(container?.image, "redis:7.2");
    assert.deepEqual(pod?.nodeSelector, { "topology.kubernetes.io/region": "us-west-2" });
    assert.deepEqual(container?.resources, { limits: { memory: "4Gi" }, requests: { cpu: "500m" } });
    assert.deepEqual(sts.metadata?.ownerReferences, [
      {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        name: "dr-redis",
        uid: "uid-1",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    assert.equal(sts.spec?.template.metadata?.labels?.["redis.io/cluster"], "dr-redis");
  });

  it("claims a volume per pod from storage, mounted at /data", () => {
    assert.deepEqual(sts.spec?.volumeClaimTemplates?.[0]?.spec, {
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: "100Gi" } },
      storageClassName: "fast",
    });
    assert.deepEqual(container?.volumeMounts, [
      { name: "data", mountPath: "/data" },
      { name: "config", mountPath: "/etc/redis-dr" },
    ]);
  });

  it("passes the password only through a secretKeyRef environment variable", () => {
    assert.deepEqual(container?.env, [
      { name: "REDIS_PASSWORD", valueFrom: { secretKeyRef: { name: "dr-redis-auth", key: "password" } } },
    ]);
  });

  it("changes its spec hash when the spec changes", () => {
    const other = statefulSetFor({ ...cluster, spec: { ...cluster.spec, instances: 5 } });
    assert.notEqual(
      other.metadata?.annotations?.["redis.io/spec-hash"],
      sts.metadata?.annotations?.["redis.io/spec-hash"],
    );
  });
});

describe("the Sentinel sidecar", () => {
  it("runs beside Redis in mode: sentinel; in a replica-mode cluster it starts monitoring nothing", () => {
    const names = (spec: RedisCluster["spec"]) =>
      statefulSetFor({ ...cluster, spec }).spec?.template.spec?.containers.map((c) => c.name);
    assert.deepEqual(names({ ...cluster.spec, mode: "sentinel" }), ["redis", "sentinel"]);
    assert.deepEqual(names({ ...cluster.spec, mode: "standalone" }), ["redis"]);
    assert.deepEqual(
      names({
        ...cluster.spec,
        mode: "sentinel",
        replicaMode: { enabled: true, source: { host: "10.0.0.1" } },
      }),
      ["redis", "sentinel"],
    );
    const sentinelOf = (spec: RedisCluster["spec"]) =>
      statefulSetFor({ ...cluster, spec }).spec?.template.spec?.containers.find((c) => c.name === "sentinel");
    // The same template whether the cluster replicates or not: switching replica mode or promoting never
    // rolls the pods. The Sentinel monitors nothing until the controller hands it the cluster, and never
    // sees the password in its environment.
    const primaryCluster = sentinelOf({ ...cluster.spec, mode: "sentinel" });
    const drCluster = sentinelOf({
      ...cluster.spec,
      mode: "sentinel",
      replicaMode: { enabled: true, source: { host: "10.0.0.1" }, promote: true },
    });
    assert.deepEqual(drCluster, primaryCluster);
    const templateOf = (spec: RedisCluster["spec"]) => statefulSetFor({ ...cluster, spec }).spec?.template;
    assert.deepEqual(
      templateOf({
        ...cluster.spec,
        mode: "sentinel",
        replicaMode: { enabled: true, source: { host: "10.0.0.1" } },
      }),
      templateOf({ ...cluster.spec, mode: "sentinel" }),
    );
    const script = primaryCluster?.command?.join(" ") ?? "";
    assert.match(script, /exec redis-sentinel/);
    assert.match(script, /sentinel resolve-hostnames no/);
    assert.doesNotMatch(script, /sentinel monitor|auth-pass/);
    assert.equal(primaryCluster?.env, undefined);
  });
});

describe("the pods' security context (Pod Security restricted, v1.37)", () => {
  const variants: [string, RedisCluster["spec"]][] = [
    ["standalone", cluster.spec],
    ["sentinel with TLS", { ...cluster.spec, mode: "sentinel", tlsSecret: { name: "tls" } }],
    ["without storage", { instances: 1 }],
  ];
  for (const [name, spec] of variants) {
    it(`${name}: every container runs as the image's redis user, without privileges, on a read-only root`, () => {
      const pod = statefulSetFor({ ...cluster, spec }).spec?.template.spec;
      assert.deepEqual(pod?.securityContext, {
        runAsNonRoot: true,
        runAsUser: 999,
        runAsGroup: 999,
        fsGroup: 999,
        fsGroupChangePolicy: "OnRootMismatch",
        seccompProfile: { type: "RuntimeDefault" },
      });
      const containers = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])];
      assert.ok(containers.length > 0);
      for (const c of containers) {
        assert.deepEqual(
          c.securityContext,
          { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
          c.name,
        );
        // What `restricted` forbids besides: host namespaces and ports, privileged, added capabilities.
        assert.equal(
          c.ports?.some((p) => p.hostPort !== undefined),
          false,
          c.name,
        );
      }
      assert.equal(pod?.hostNetwork ?? pod?.hostPID ?? pod?.hostIPC, undefined);
      // Restricted allows only these volume types; the config emptyDir is the entrypoint's writable place.
      for (const volume of pod?.volumes ?? [])
        assert.ok(volume.emptyDir ?? volume.secret ?? volume.persistentVolumeClaim, volume.name);
      assert.deepEqual(
        pod?.volumes?.find((v) => v.name === "config"),
        { name: "config", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
      );
    });
  }
});

describe("the PodDisruptionBudget of a RedisCluster", () => {
  it("lets at most one of the cluster's pods be evicted at a time, owned by the RedisCluster", () => {
    const pdb = podDisruptionBudgetFor(cluster);
    assert.equal(pdb.metadata?.name, "dr-redis");
    assert.equal(pdb.metadata?.namespace, "production");
    assert.deepEqual(pdb.metadata?.ownerReferences, statefulSetFor(cluster).metadata?.ownerReferences);
    assert.deepEqual(pdb.spec, {
      maxUnavailable: 1,
      selector: { matchLabels: { "redis.io/cluster": "dr-redis" } },
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    });
    // The budget selects exactly the StatefulSet's pods.
    assert.deepEqual(pdb.spec?.selector, statefulSetFor(cluster).spec?.selector);
  });
});

describe("the Services of a RedisCluster", () => {
  it("are a headless service, a leader service selecting role=primary and a replicas service", () => {
    assert.deepEqual(
      servicesFor(cluster).map((s) => [s.metadata?.name, s.spec?.selector, s.spec?.clusterIP]),
      [
        ["dr-redis-headless", { "redis.io/cluster": "dr-redis" }, "None"],
        ["dr-redis-leader", { "redis.io/cluster": "dr-redis", "redis.io/role": "primary" }, undefined],
        ["dr-redis-replicas", { "redis.io/cluster": "dr-redis", "redis.io/role": "replica" }, undefined],
      ],
    );
  });
});

describe("the container entrypoint, run for real", () => {
  const dir = mkdtempSync(join(tmpdir(), "redis-dr-entrypoint-"));
  const password = `p"a\\ss $HOME 'w0rd`;
  const socket = join(dir, "redis.sock");
  // Same script, but on a unix socket in a temp dir instead of port 6379 and /data.
  const script = entrypointScript(false)
    .replace("port 6379", `port 0\nunixsocket ${socket}`)
    .replace("dir /data", `dir ${dir}`);
  const child = spawn("sh", ["-c", script], {
    env: { ...process.env, REDIS_PASSWORD: password },
    stdio: "ignore",
  });
  const clients: Redis[] = [];
  after(async () => {
    clients.forEach((c) => c.disconnect());
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts Redis parked, with persistence, requiring the Secret's password, which no process argument shows", async () => {
    await waitFor("redis listening on its socket", () => existsSync(socket));
    const client = new Redis({ path: socket, password, retryStrategy: () => null });
    client.on("error", () => undefined);
    clients.push(client);
    await waitFor("PONG", async () => (await client.ping()) === "PONG");
    const info = await client.info("replication");
    assert.match(info, /role:slave/);
    assert.match(info, /master_host:127\.0\.0\.1\r\nmaster_port:1\r\n/);
    assert.deepEqual(await client.config("GET", "appendonly"), ["appendonly", "yes"]);
    // masterauth too, so a pod re-pointed at another pod of the cluster (e.g. by Sentinel) authenticates.
    assert.deepEqual(await client.config("GET", "masterauth"), ["masterauth", password]);
    const anonymous = spawnSync("redis-cli", ["-s", socket, "GET", "x"], { encoding: "utf8" });
    assert.equal(anonymous.stdout.trim(), "NOAUTH Authentication required.");
    // The shell exec'd redis-server: its pid is the child's, and its command line has no password.
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, "utf8");
    assert.match(cmdline, /redis-server/);
    assert.equal(cmdline.includes("w0rd"), false);
  });
});
