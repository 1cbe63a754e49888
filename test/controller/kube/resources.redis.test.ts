import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import type { SecretFiles } from "../../../controller/kube/resources.ts";
import {
  entrypointScript,
  podDisruptionBudgetFor,
  sentinelScript,
  servicesFor,
  statefulSetFor,
  usersSecretFor,
} from "../../../controller/kube/resources.ts";
import type { ClusterUsers } from "../../../controller/redis/users.ts";
import {
  ADMIN_USER,
  REPLICATION_USER,
  SENTINEL_USER,
  usersFromSecretData,
} from "../../../controller/redis/users.ts";
import { waitFor } from "../../support/redis-process.ts";

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
      { name: "config", mountPath: "/etc/redis-dr/run" },
      { name: "auth", mountPath: "/etc/redis-dr/auth", readOnly: true },
      { name: "redis-dr-users", mountPath: "/etc/redis-dr/users", readOnly: true },
    ]);
  });

  it("mounts the cluster's Secret and the controller's users Secret as files; the password env is for exec", () => {
    assert.deepEqual(pod?.volumes, [
      { name: "config", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
      { name: "auth", secret: { secretName: "dr-redis-auth", defaultMode: 0o440 } },
      { name: "redis-dr-users", secret: { secretName: "dr-redis-redis-dr-users", defaultMode: 0o440 } },
    ]);
    assert.deepEqual(container?.env, [
      { name: "REDIS_PASSWORD", valueFrom: { secretKeyRef: { name: "dr-redis-auth", key: "password" } } },
    ]);
  });

  it("owns a users Secret with the three generated passwords", () => {
    const secret = usersSecretFor(cluster, { admin: "a-1", replication: "r-2", sentinel: "s-3" });
    assert.equal(secret.metadata?.name, "dr-redis-redis-dr-users");
    assert.equal(secret.metadata?.namespace, "production");
    assert.deepEqual(secret.metadata?.ownerReferences, sts.metadata?.ownerReferences);
    assert.deepEqual(secret.data, {
      admin: Buffer.from("a-1").toString("base64"),
      replication: Buffer.from("r-2").toString("base64"),
      sentinel: Buffer.from("s-3").toString("base64"),
    });
    assert.deepEqual(usersFromSecretData(secret.data), { admin: "a-1", replication: "r-2", sentinel: "s-3" });
    assert.equal(
      usersFromSecretData({ ...secret.data, sentinel: Buffer.from('x"y').toString("base64") }),
      "keys sentinel are missing or hold characters other than A-Z a-z 0-9 _ -",
    );
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

/** The Secrets' files as a pod sees them, in a temp dir. */
function secretFiles(dir: string, password: string | undefined, users: ClusterUsers): SecretFiles {
  mkdirSync(join(dir, "users"));
  writeFileSync(join(dir, "users", "admin"), users.admin);
  // As `kubectl create secret --from-file` leaves a file's final newline (CRLF here).
  writeFileSync(join(dir, "users", "replication"), `${users.replication}\r\n`);
  writeFileSync(join(dir, "users", "sentinel"), `${users.sentinel}\n`);
  if (password === undefined) return { auth: undefined, users: join(dir, "users") };
  mkdirSync(join(dir, "auth"));
  writeFileSync(join(dir, "auth", "password"), `${password}\n`);
  return { auth: join(dir, "auth"), users: join(dir, "users") };
}

const USERS: ClusterUsers = { admin: "admin-Pw_1", replication: "repl-Pw_2", sentinel: "sentinel-Pw_3" };

/** The reply of one command, or its error message. */
async function reply(client: Redis, ...args: string[]): Promise<unknown> {
  const [command, ...rest] = args;
  return client.call(command ?? "", ...rest).then(
    (value) => value,
    (error: Error) => error.message,
  );
}

describe("the container entrypoint, run for real", () => {
  const dir = mkdtempSync(join(tmpdir(), "redis-dr-entrypoint-"));
  // Quotes, a backslash, a dollar and a space: nothing a shell or the config file may interpret. The Secret
  // file ends with a newline, which is not part of the password.
  const password = `p"a\\ss $HOME 'w0rd`;
  const socket = join(dir, "redis.sock");
  const files = secretFiles(dir, password, USERS);
  // The application's opt-in (docs/security.md): one more right, from the authSecret's `acl` key.
  writeFileSync(join(dir, "auth", "acl"), "+flushdb\n");
  // Same script, but on a unix socket in a temp dir instead of port 6379 and /data.
  const script = entrypointScript(false, files)
    .replace("port 6379", `port 0\nunixsocket ${socket}`)
    .replace("dir /data", `dir ${dir}`);
  const child = spawn("sh", ["-c", script], {
    env: { ...process.env, REDIS_PASSWORD: `${password}\n` },
    stdio: "ignore",
  });
  const clients: Redis[] = [];
  const connect = (login: { username?: string; password: string }) => {
    // ioredis' ready check runs INFO: the application's user may, the replication user may not.
    const readyCheck = login.username !== REPLICATION_USER;
    const client = new Redis({
      path: socket,
      ...login,
      enableReadyCheck: readyCheck,
      retryStrategy: () => null,
    });
    client.on("error", () => undefined);
    clients.push(client);
    return client;
  };
  after(async () => {
    clients.forEach((c) => c.disconnect());
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts Redis parked, with persistence, requiring the Secret's password, which no process argument shows", async () => {
    await waitFor("redis listening on its socket", () => existsSync(socket));
    const admin = connect({ username: ADMIN_USER, password: USERS.admin });
    await waitFor("PONG", async () => (await admin.ping()) === "PONG");
    const info = await admin.info("replication");
    assert.match(info, /role:slave/);
    assert.match(info, /master_host:127\.0\.0\.1\r\nmaster_port:1\r\n/);
    assert.deepEqual(await admin.config("GET", "appendonly"), ["appendonly", "yes"]);
    // A pod re-pointed at another pod of the cluster (e.g. by Sentinel) logs in as the replication user.
    assert.deepEqual(await admin.config("GET", "masteruser"), ["masteruser", REPLICATION_USER]);
    assert.deepEqual(await admin.config("GET", "masterauth"), ["masterauth", USERS.replication]);
    const anonymous = spawnSync("redis-cli", ["-s", socket, "GET", "x"], { encoding: "utf8" });
    assert.equal(anonymous.stdout.trim(), "NOAUTH Authentication required.");
    // The shell exec'd redis-server: its pid is the child's, and its command line has no password.
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, "utf8");
    assert.match(cmdline, /redis-server/);
    assert.equal(cmdline.includes("w0rd"), false);
  });

  it("leaves REDIS_PASSWORD out of redis-server's environment", () => {
    const environment = readFileSync(`/proc/${child.pid}/environ`, "utf8").split("\0");
    assert.deepEqual(
      environment.filter((entry) => entry.startsWith("REDIS_PASSWORD=") || entry.includes("w0rd")),
      [],
    );
  });

  it("gives the application's password data commands and INFO, and refuses what reveals or changes configuration", async () => {
    // AUTH <password>, as the reference's clients do; the Secret file's final newline is not part of it.
    const app = connect({ password });
    assert.equal(await reply(app, "PING"), "PONG");
    assert.match(String(await reply(app, "INFO", "replication")), /role:slave/);
    assert.equal(await reply(app, "GET", "k"), null);
    assert.deepEqual(await reply(app, "KEYS", "*"), []);
    // A parked pod is a read-only replica: SET reaches the data path (not refused by the ACL).
    assert.match(String(await reply(app, "SET", "k", "v")), /^READONLY /);
    const refused = (command: string) =>
      `NOPERM this user has no permissions to run the '${command}' command`;
    assert.equal(await reply(app, "CONFIG", "GET", "masterauth"), refused("config|get"));
    assert.equal(await reply(app, "CONFIG", "SET", "maxmemory", "1"), refused("config|set"));
    assert.equal(await reply(app, "ACL", "LIST"), refused("acl|list"));
    assert.equal(await reply(app, "ACL", "SETUSER", "default", "+@all"), refused("acl|setuser"));
    assert.equal(await reply(app, "REPLICAOF", "NO", "ONE"), refused("replicaof"));
    assert.equal(await reply(app, "SHUTDOWN"), refused("shutdown"));
    assert.equal(await reply(app, "FLUSHALL"), refused("flushall"));
    // Opted in through the `acl` key: allowed by the ACL (a parked replica refuses the write itself).
    assert.match(String(await reply(app, "FLUSHDB")), /^READONLY /);
    assert.equal(await reply(app, "CLIENT", "LIST"), refused("client|list"));
    assert.equal(await reply(app, "MONITOR"), refused("monitor"));
    // DEBUG is off for everyone (enable-debug-command no), the admin user included.
    const debugOff = /^ERR DEBUG command not allowed/;
    assert.match(String(await reply(app, "DEBUG", "SLEEP", "0")), debugOff);
    const admin = connect({ username: ADMIN_USER, password: USERS.admin });
    assert.match(String(await reply(admin, "DEBUG", "SLEEP", "0")), debugOff);
    // Scripts run with the caller's rights: no way round the ACL.
    assert.match(
      String(await reply(app, "EVAL", "return redis.call('FLUSHALL')", "0")),
      /^ERR The user executing the script can't run this command or subcommand/,
    );
  });

  it("gives the replication user only what a replica sends", async () => {
    const replication = connect({ username: REPLICATION_USER, password: USERS.replication });
    assert.equal(await reply(replication, "PING"), "PONG");
    const refused = (command: string) =>
      `NOPERM this user has no permissions to run the '${command}' command`;
    assert.equal(await reply(replication, "GET", "k"), refused("get"));
    assert.equal(await reply(replication, "INFO"), refused("info"));
    assert.equal(await reply(replication, "CONFIG", "GET", "masterauth"), refused("config|get"));
  });
});

describe("the Sentinel sidecar, run for real", () => {
  const dir = mkdtempSync(join(tmpdir(), "redis-dr-sentinel-entrypoint-"));
  const password = "app-pw-$x";
  const files = secretFiles(dir, password, USERS);
  // Same script, on 127.45.0.2 (this file's loopback range: 127.45.0.0/24) and a temp dir for /sentinel.
  const script = sentinelScript(false, files)
    .replace("conf=/sentinel/", `conf=${join(dir, "sentinel")}/`)
    .replace("dir /sentinel", `dir ${join(dir, "sentinel")}`)
    .replace("port 26379", "port 26379\nbind 127.45.0.2");
  mkdirSync(join(dir, "sentinel"));
  const child = spawn("sh", ["-c", script], { env: process.env, stdio: "ignore" });
  const clients: Redis[] = [];
  const connect = (login: { username?: string; password?: string }) => {
    const client = new Redis({ host: "127.45.0.2", port: 26379, ...login, retryStrategy: () => null });
    client.on("error", () => undefined);
    clients.push(client);
    return client;
  };
  after(async () => {
    clients.forEach((c) => c.disconnect());
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses SENTINEL MONITOR, SET and FAILOVER to anyone but the controller", async () => {
    const admin = connect({ username: ADMIN_USER, password: USERS.admin });
    await waitFor("Sentinel answers", async () => (await admin.ping()) === "PONG");
    const orders = [
      ["MONITOR", "evil", "127.45.0.3", "6379", "1"],
      ["SET", "mine", "down-after-milliseconds", "1"],
      ["FAILOVER", "mine"],
    ];
    const app = connect({ password });
    for (const order of orders) {
      assert.match(String(await reply(connect({}), "SENTINEL", ...order)), /^NOAUTH /);
      assert.equal(
        await reply(app, "SENTINEL", ...order),
        `NOPERM this user has no permissions to run the 'sentinel|${order[0]!.toLowerCase()}' command`,
      );
    }
    assert.equal(await reply(admin, "SENTINEL", "MONITOR", "mine", "127.45.0.3", "6379", "1"), "OK");
    // The application's password discovers the primary.
    assert.deepEqual(await reply(app, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mine"), ["127.45.0.3", "6379"]);
    // Sentinels reach each other as the Sentinel user; the config file is the owner's only.
    const peer = connect({ username: SENTINEL_USER, password: USERS.sentinel });
    assert.equal(await reply(peer, "PING"), "PONG");
    assert.equal(statSync(join(dir, "sentinel", "sentinel.conf")).mode & 0o077, 0);
    assert.equal(readFileSync(join(dir, "sentinel", "sentinel.conf"), "utf8").includes(password), false);
  });
});
