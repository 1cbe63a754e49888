/**
 * What a reconcile of one RedisCluster carries from step to step.
 */
import type { V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { SourceWatch } from "../replication/source-watch.ts";
import type { RedisCluster, RedisClusterStatus } from "../../schemas/generated/rediscluster.ts";
import type { ClusterApi } from "../kube/cluster-api.ts";
import type { ControllerMetrics } from "../metrics/metrics.ts";
import type { RedisAdminFactory } from "../redis/admin-port.ts";
import type { ClusterUsers } from "../redis/users.ts";
import { AdminPool } from "../replication/context.ts";
import type { StatusTransaction } from "../status/transaction.ts";
import type { ClusterIntent } from "../model/intent.ts";
import type { SourceMemory } from "../replication/decisions/rpo.ts";

export type StepResult =
  | { readonly kind: "continue" }
  | { readonly kind: "requeue"; readonly afterMs: number }
  | { readonly kind: "done" };

export const CONTINUE: StepResult = { kind: "continue" };
export const requeue = (afterMs: number): StepResult => ({ kind: "requeue", afterMs });

export interface Step {
  readonly name: string;
  run(ctx: ReconcileContext): Promise<StepResult>;
}

export interface ReconcileDeps {
  readonly api: ClusterApi;
  readonly redis: RedisAdminFactory;
  readonly metrics: ControllerMetrics;
  readonly log: Logger;
  readonly now: () => Date;
  /** How often a healthy cluster is looked at again (status and metrics freshness). */
  readonly resyncMs: number;
  /**
   * The previous sighting of each replica cluster's source (`namespace/name`), for its write rate. In memory:
   * a restart loses one interval of rate, and keeping it in status would write status every pass.
   */
  readonly sourceMemory?: Map<string, SourceMemory>;
  /** The StatefulSet spec hash each cluster's spec gives (`namespace/name`: kube/resources, statefulSetSpecHash). */
  readonly specHashes?: Map<string, { readonly spec: string; readonly hash: string }>;
  /** --backlog-horizon-threshold: below it, condition BacklogHorizon is False and Event BacklogTooSmall. */
  readonly backlogHorizonThresholdSeconds?: number;
  /** Standing connections to the replica clusters' sources (absent where no work queue can be woken). */
  readonly sourceWatch?: SourceWatch;
}

export class ReconcileContext {
  intent: ClusterIntent | undefined;
  clusterPassword: string | undefined;
  /** The passwords of the pods' ACL users, from the controller's own Secret (redis/users.ts). */
  users: ClusterUsers | undefined;
  sourcePassword: string | undefined;
  /** The source's ACL user, when its Secret has a `username` key. */
  sourceUsername: string | undefined;
  /** ca.crt of the tlsSecret, when the cluster speaks TLS. */
  tlsCa: string | undefined;
  tlsCertificateFingerprint: string | undefined;
  /** The source Secret is named but cannot be read: leave the pods' masterauth alone. */
  sourceAuthMissing = false;
  /** The cluster's own Secret is missing: nothing can be done with the pods. */
  clusterAuthMissing: string | undefined;
  pods: V1Pod[] = [];
  /** Sentinel mode: the pod the replication step found to be the primary. */
  primaryPod: string | undefined;
  /** The replication engine asked to come back sooner than the resync period. */
  engineRequeueMs: number | undefined;
  /** Redis connections shared by the steps of this reconcile; the reconciler closes them at its end. */
  readonly redis: AdminPool;

  constructor(
    public cluster: RedisCluster,
    readonly deps: ReconcileDeps,
    public log: Logger,
  ) {
    this.redis = new AdminPool(deps.redis);
  }

  get namespace(): string {
    return this.cluster.metadata?.namespace ?? "default";
  }

  get name(): string {
    return this.cluster.metadata?.name ?? "";
  }

  status(): RedisClusterStatus {
    return this.cluster.status ?? {};
  }

  async commit(transaction: StatusTransaction): Promise<void> {
    const patched = await this.deps.api.patchStatus(this.namespace, this.name, transaction, this.cluster);
    if (patched !== undefined) this.cluster = patched;
  }

  /** Records an Event; a failure to record one is logged, never fatal. */
  async event(type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    this.log.info({ event: reason, type }, message);
    try {
      await this.deps.api.recordEvent(this.cluster, type, reason, message);
    } catch (error) {
      this.log.warn({ err: error, event: reason }, "could not record event");
    }
  }
}
