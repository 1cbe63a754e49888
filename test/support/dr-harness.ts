/**
 * A DR cluster without Kubernetes: a source redis-server and N pod redis-servers configured like the
 * controller's pods (persistence on, parked at boot), driven by the replication engine through the real
 * ioredis admin port, with status kept in memory and Events and log lines collected for assertions.
 */
import { readFileSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import type { Logger } from "pino";
import type { RedisClusterSpec, RedisClusterStatus } from "../../schemas/generated/rediscluster.ts";
import type { RedisAdminFactory } from "../../controller/redis/admin-port.ts";
import { ioredisAdminFactory } from "../../controller/redis/ioredis-admin.ts";
import { decideIntent } from "../../controller/model/intent.ts";
import type { SourceMemory } from "../../controller/replication/decisions/rpo.ts";
import type { PodEndpoint } from "../../controller/model/pods.ts";
import { AdminPool } from "../../controller/replication/context.ts";
import type { EventType, ReplicationContext } from "../../controller/replication/context.ts";
import { reconcileReplication } from "../../controller/replication/engine.ts";
import type { EngineResult } from "../../controller/replication/engine.ts";
import type { ClusterReport } from "../../controller/replication/report.ts";
import { observeAndReport } from "../../controller/replication/report.ts";
import type { ClusterUsers } from "../../controller/redis/users.ts";
import { ADMIN_USER } from "../../controller/redis/users.ts";
import { BOOT_CONFIG, podUserLines } from "../../controller/kube/resources/redis-config.ts";
import { RedisProcess, stopAll, waitFor } from "./redis-process.ts";
import type { TestCertificates } from "./tls.ts";

export const SOURCE_PASSWORD = "source-pw-7f3a";
export const CLUSTER_PASSWORD = "cluster-pw-91bc";
/** The passwords of the pods' ACL users, as the controller keeps them in its users Secret. */
export const CLUSTER_USERS: ClusterUsers = {
  admin: "admin-pw-3c1d",
  replication: "replication-pw-88e0",
  sentinel: "sentinel-pw-0b7a",
};

/** The `user` lines and masteruser/masterauth of a pod, as the controller's entrypoint renders them. */
export function podUsersConfig(applicationPassword: string, users: ClusterUsers = CLUSTER_USERS): string[] {
  return podUserLines({
    application: `>${applicationPassword}`,
    admin: `>${users.admin}`,
    replication: `>${users.replication}`,
    sentinel: `>${users.sentinel}`,
    replicationAuth: users.replication,
  });
}

export interface RecordedEvent {
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
}

/**
 * The boot configuration of a pod, from the controller's own (persistence, parked, unelectable). A SIGKILL
 * loses nothing under `everysec` (the kernel keeps what Redis wrote); a node crash loses up to a second:
 * tests simulate that with truncateAofTail.
 */
export const POD_BOOT_CONFIG = [...BOOT_CONFIG, ...podUsersConfig(CLUSTER_PASSWORD)];

/** A pod started by an older controller: the `default` user has every right and the cluster's password. */
export const OLDER_POD_BOOT_CONFIG = [
  "appendonly yes",
  "appendfsync everysec",
  "replicaof 127.0.0.1 1",
  `requirepass ${CLUSTER_PASSWORD}`,
  `masterauth ${CLUSTER_PASSWORD}`,
];

export class DrHarness {
  readonly source: RedisProcess;
  readonly pods: RedisProcess[];
  status: RedisClusterStatus = {};
  readonly events: RecordedEvent[] = [];
  readonly logLines: string[] = [];
  readonly log: Logger;
  spec: RedisClusterSpec;
  sourcePassword: string | undefined = SOURCE_PASSWORD;
  /** The redis.io/confirm-leader annotation's value. */
  confirmLeader: string | undefined;
  /** The redis.io/accept-source-history annotation's value. */
  acceptSourceHistory: string | undefined;
  /** Where the spec says the source is (a proxy in partition tests). */
  sourceAddress: { host: string; port: number };
  readonly tls: TestCertificates | undefined;
  /**
   * Opt-in: keep the controller's memory of the source between passes, as the controller does, so reports
   * carry the write rate, RPO and backlog horizon and status the BacklogHorizon condition.
   */
  trackSource = false;
  sourceMemory: SourceMemory | undefined;
  backlogHorizonThresholdSeconds: number | undefined;

  constructor(
    readonly prefix: string,
    instances = 3,
    options: {
      podConfig?: readonly string[];
      tls?: TestCertificates;
      /** The source's own certificates (another CA than the pods'), when not `tls`. */
      sourceTls?: TestCertificates;
      /** Pods started by an older controller's entrypoint (no ACL users but `default`). */
      olderPods?: boolean;
    } = {},
  ) {
    this.tls = options.tls;
    this.source = new RedisProcess({
      host: `${prefix}.1`,
      password: SOURCE_PASSWORD,
      tls: options.sourceTls ?? options.tls,
    });
    this.pods = Array.from(
      { length: instances },
      (_, i) =>
        new RedisProcess({
          host: `${prefix}.${10 + i}`,
          // The tests' own clients log in as the controller does.
          ...(options.olderPods === true
            ? { password: CLUSTER_PASSWORD }
            : { username: ADMIN_USER, password: CLUSTER_USERS.admin }),
          tls: options.tls,
          config: [
            ...(options.olderPods === true ? OLDER_POD_BOOT_CONFIG : POD_BOOT_CONFIG),
            `bind-source-addr ${prefix}.${10 + i}`,
            ...(options.podConfig ?? []),
          ],
        }),
    );
    this.sourceAddress = { host: this.source.host, port: this.source.port };
    this.spec = this.replicaSpec(false);
    const lines = this.logLines;
    this.log = pino(
      { level: "debug" },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
  }

  replicaSpec(promote: boolean, topology: "direct" | "cascade" = "direct"): RedisClusterSpec {
    return {
      instances: this.pods.length,
      authSecret: { name: "dr-auth" },
      replicaMode: {
        enabled: true,
        promote,
        topology,
        source: { ...this.sourceAddress, clusterName: "prod-east", authSecretName: "prod-auth" },
      },
    };
  }

  async start(): Promise<void> {
    await Promise.all([this.source.start(), ...this.pods.map((p) => p.start())]);
  }

  async stop(): Promise<void> {
    await stopAll([this.source, ...this.pods]);
  }

  podEndpoints(): PodEndpoint[] {
    return this.pods.map((p, ordinal) => ({ name: `dr-${ordinal}`, ordinal, host: p.host, port: p.port }));
  }

  context(
    pool: AdminPool,
    commit?: (tx: (s: RedisClusterStatus) => RedisClusterStatus) => Promise<void>,
  ): ReplicationContext {
    return {
      cluster: "dr",
      pods: this.podEndpoints(),
      instances: this.pods.length,
      intent: decideIntent(this.spec, this.status),
      clusterPassword: CLUSTER_PASSWORD,
      users: CLUSTER_USERS,
      sourcePassword: this.sourcePassword,
      minSyncReplicas: this.spec.minSyncReplicas ?? 0,
      confirmLeader: this.confirmLeader,
      acceptSourceHistory: this.acceptSourceHistory,
      sentinelMode: this.spec.mode === "sentinel",
      tlsCa: this.tls?.ca,
      tlsCertificateFingerprint: this.tls?.fingerprint(),
      tlsFiles:
        this.tls === undefined
          ? undefined
          : { cert: this.tls.certFile, key: this.tls.keyFile, ca: this.tls.caFile },
      redis: pool,
      status: () => this.status,
      commit:
        commit ??
        (async (tx) => {
          this.status = tx(this.status);
        }),
      event: async (type, reason, message) => {
        this.events.push({ type, reason, message });
      },
      now: () => new Date(),
      log: this.log,
      waitTimeoutMs: 10000,
      ...(this.trackSource
        ? {
            sourceMemory: {
              get: () => this.sourceMemory,
              set: (memory: SourceMemory | undefined) => {
                this.sourceMemory = memory;
              },
            },
          }
        : {}),
      backlogHorizonThresholdSeconds: this.backlogHorizonThresholdSeconds,
    };
  }

  /** One reconcile pass of the engine followed by the status report, with fresh connections like a new process. */
  async reconcile(
    factory: RedisAdminFactory = ioredisAdminFactory({ connectTimeoutMs: 500 }),
  ): Promise<EngineResult> {
    const pool = new AdminPool(factory);
    try {
      const result = await reconcileReplication(this.context(pool));
      const report = await this.report(pool);
      this.status = report.transaction(this.status);
      return result;
    } finally {
      await pool.closeAll();
    }
  }

  async report(pool?: AdminPool): Promise<ClusterReport> {
    const own = pool ?? new AdminPool(ioredisAdminFactory({ connectTimeoutMs: 500 }));
    try {
      return await observeAndReport(this.context(own), 1);
    } finally {
      if (pool === undefined) await own.closeAll();
    }
  }

  /** Reconciles until `done` holds (at most `rounds` passes), with `factory`'s connections if given. */
  async reconcileUntil(
    what: string,
    done: () => boolean | Promise<boolean>,
    rounds = 20,
    factory?: RedisAdminFactory,
  ): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      await this.reconcile(factory);
      if (await done()) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`still not ${what} after ${rounds} reconciles; status: ${JSON.stringify(this.status)}`);
  }

  condition(type: string) {
    return this.status.conditions?.find((c) => c.type === type);
  }
}

/** Every key any pod of the harness holds. */
export async function keysOnAnyPod(h: DrHarness): Promise<Set<string>> {
  const all = new Set<string>();
  for (const pod of h.pods) for (const key of await keysOf(pod)) all.add(key);
  return all;
}

/** `dr-<ordinal>:<key>` for each expected key a pod lacks. */
export async function missingKeys(h: DrHarness, expected: ReadonlySet<string>): Promise<string[]> {
  const missing: string[] = [];
  for (const [ordinal, pod] of h.pods.entries()) {
    const present = await keysOf(pod);
    for (const key of expected) if (!present.has(key)) missing.push(`dr-${ordinal}:${key}`);
  }
  return missing;
}

/** Every key of an instance (test datasets are small). */
export async function keysOf(p: RedisProcess): Promise<Set<string>> {
  const client = p.client();
  try {
    return new Set(await client.keys("*"));
  } finally {
    client.disconnect();
  }
}

export async function infoField(
  p: RedisProcess,
  section: string,
  field: string,
): Promise<string | undefined> {
  const client = p.client();
  try {
    const text = await client.info(section);
    return new RegExp(`^${field}:(.*)$`, "m").exec(text)?.[1]?.trim();
  } finally {
    client.disconnect();
  }
}

/** Writes `<prefix>-<i>` (value: the key) for i < count, one by one; returns the keys. */
export async function writeNumbered(p: RedisProcess, prefix: string, count: number): Promise<string[]> {
  const client = p.client();
  try {
    const keys = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    for (const key of keys) await client.set(key, key);
    return keys;
  } finally {
    client.disconnect();
  }
}

/** Writes `key-<n>` to the source in a loop until stopped; returns how many writes were acknowledged. */
export function startWriteLoad(source: RedisProcess, prefix = "load"): { stop: () => Promise<number> } {
  const client = source.client();
  let running = true;
  let written = 0;
  const loop = (async () => {
    while (running) {
      try {
        await client.set(`${prefix}-${written}`, String(written));
        written++;
      } catch {
        break;
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      client.disconnect();
      return written;
    },
  };
}

/**
 * After a full sync Redis rewrites a replica's AOF in the background; until that ends the dataset on disk
 * is the old one. A crash in that window is a different scenario from the ones the restart tests are about.
 */
export async function waitPersisted(p: RedisProcess): Promise<void> {
  await waitFor("AOF rewrite finished", async () => {
    const [inProgress, scheduled] = await Promise.all([
      infoField(p, "persistence", "aof_rewrite_in_progress"),
      infoField(p, "persistence", "aof_rewrite_scheduled"),
    ]);
    return inProgress === "0" && scheduled === "0";
  });
}

/** The AOF file Redis appends to now (the last incremental file its manifest lists). */
export function currentAofFile(p: RedisProcess): string {
  const dir = join(p.dir, "appendonlydir");
  const manifest = readFileSync(join(dir, "appendonly.aof.manifest"), "utf8");
  const incremental = [...manifest.matchAll(/^file (\S+) seq \d+ type i$/gm)].map((m) => m[1]);
  const last = incremental.at(-1);
  if (last === undefined) throw new Error(`no incremental AOF file in ${dir}`);
  return join(dir, last);
}

export const aofSize = (p: RedisProcess): number => statSync(currentAofFile(p)).size;

/**
 * Cuts the AOF of a stopped pod back to `size` bytes: what a node crash does to writes `appendfsync everysec`
 * had not yet fsynced. Redis loads a truncated last command as the end of the file (aof-load-truncated).
 */
export function truncateAofTail(p: RedisProcess, size: number): void {
  truncateSync(currentAofFile(p), size);
}
