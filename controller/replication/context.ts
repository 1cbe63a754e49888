/**
 * What the replication engine needs from the outside world, as narrow ports: Redis connections, the durable
 * record (status) and Events. The Kubernetes side provides them from the API server; the engine's tests
 * provide an in-memory status and a list of events, with real redis-server processes behind the admin port.
 */
import type { Logger } from "pino";
import type { RedisClusterStatus } from "../../schemas/generated/rediscluster.ts";
import type { RedisAdmin, RedisAdminFactory, RedisEndpoint } from "../redis/admin-port.ts";
import type { ClusterUsers } from "../redis/users.ts";
import type { ClusterIntent } from "../model/intent.ts";
import type { SourceMemory } from "./decisions/rpo.ts";
import type { PodEndpoint } from "../model/pods.ts";
import type { StatusTransaction } from "../status/transaction.ts";

export type EventType = "Normal" | "Warning";

export interface ReplicationContext {
  readonly cluster: string;
  /** Pods that have an address, by ordinal. The designated leader is ordinal 0. */
  readonly pods: readonly PodEndpoint[];
  /** spec.instances: how many pods there should be. */
  readonly instances: number;
  readonly intent: ClusterIntent;
  /**
   * The cluster's own password: the application's (`default` user) on every pod. Without `users` (pods of
   * an older controller, and tests that start pods that way) also the controller's login and the masterauth
   * of pods following the leader.
   */
  readonly clusterPassword: string | undefined;
  /**
   * The pods' ACL users (redis/users.ts): the controller logs in as ADMIN_USER, pods follow each other as
   * REPLICATION_USER, Sentinels reach the pods as SENTINEL_USER.
   */
  readonly users?: ClusterUsers | undefined;
  /** The source's password (masterauth of pods following the source). */
  readonly sourcePassword: string | undefined;
  /** The source's ACL user (masteruser of pods following the source); its `default` user when undefined. */
  readonly sourceUsername?: string | undefined;
  /**
   * The source's Secret is named but unreadable: the pods' links to the source are left exactly as they are
   * (re-pointing them would drop a working masterauth), while a promotion can still go ahead.
   */
  readonly sourceAuthUnavailable?: boolean;
  readonly minSyncReplicas: number;
  /** The redis.io/accept-source-history annotation: the source history a human confirmed (source-continuity). */
  readonly acceptSourceHistory?: string | undefined;
  /**
   * Keep a standing connection to the source (undefined: none), so its going away is seen at once
   * (source-watch.ts). Absent in tests that drive the engine pass by pass.
   */
  readonly watchSource?: (endpoint: RedisEndpoint | undefined) => void;
  /** The redis.io/confirm-leader annotation: a human's decision about the leader (see reviewCatchUp). */
  readonly confirmLeader?: string | undefined;
  /** `mode: sentinel`: Sentinel sidecars run in the pods (they fail over only when `sentinelManaged`). */
  readonly sentinelMode: boolean;
  /** With `tlsSecret`: the CA (PEM) the pods' and the source's certificates are verified against. */
  readonly tlsCa?: string | undefined;
  /** With `tlsSecret`: the SHA-256 fingerprint of its tls.crt, which every pod should be serving. */
  readonly tlsCertificateFingerprint?: string | undefined;
  /** Where the pods read their TLS files (the pod spec's mount unless a test says otherwise). */
  readonly tlsFiles?: { readonly cert: string; readonly key: string; readonly ca: string };
  readonly redis: AdminPool;
  /** The last status the engine knows about (refreshed after each commit). */
  status(): RedisClusterStatus;
  /** Applies a transaction durably (the status subresource) before the engine goes on. */
  commit(transaction: StatusTransaction): Promise<void>;
  event(type: EventType, reason: string, message: string): Promise<void>;
  now(): Date;
  readonly log: Logger;
  /**
   * What the controller remembers about this cluster's source between passes (the previous offset sample
   * the write rate is computed from), in memory: absent, no rate, RPO or backlog horizon is computed.
   */
  readonly sourceMemory?: {
    get(): SourceMemory | undefined;
    set(memory: SourceMemory | undefined): void;
  };
  /** Below this backlog horizon, condition BacklogHorizon is False with a recommendation (default 300 s). */
  readonly backlogHorizonThresholdSeconds?: number;
  /** How long one reconcile waits in place for a catch-up or re-attachment before asking to be requeued. */
  readonly waitTimeoutMs: number;
}

/** Connections reused within one reconcile and closed at its end. */
export class AdminPool {
  private readonly admins = new Map<string, RedisAdmin>();
  constructor(private readonly factory: RedisAdminFactory) {}

  get(endpoint: RedisEndpoint): RedisAdmin {
    const key = `${endpoint.host}:${endpoint.port}`;
    let admin = this.admins.get(key);
    if (admin === undefined) {
      admin = this.factory.connect(endpoint);
      this.admins.set(key, admin);
    }
    return admin;
  }

  /** Drops a connection so the next `get` opens a new one (after the instance restarted or refused us). */
  async forget(endpoint: RedisEndpoint): Promise<void> {
    const key = `${endpoint.host}:${endpoint.port}`;
    await this.admins.get(key)?.close();
    this.admins.delete(key);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.admins.values()].map((a) => a.close()));
    this.admins.clear();
  }
}
