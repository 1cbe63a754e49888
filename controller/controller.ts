/**
 * The controller: informers feed a keyed work queue; workers reconcile one RedisCluster at a time each.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { ClusterApi } from "./kube/cluster-api.ts";
import type { ControllerMetrics } from "./metrics/metrics.ts";
import type { RedisAdminFactory } from "./redis/admin-port.ts";
import { reconcileCluster } from "./reconcile/reconciler.ts";
import { SourceWatch } from "./replication/source-watch.ts";
import type { ReconcileDeps } from "./reconcile/context.ts";
import { keyOf, splitKey, startInformers } from "./watch/informers.ts";
import type { Informers } from "./watch/informers.ts";
import { WorkQueue } from "./watch/work-queue.ts";

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string | undefined;
  readonly redis: RedisAdminFactory;
  readonly metrics: ControllerMetrics;
  readonly log: Logger;
  readonly resyncMs: number;
  readonly workers: number;
  /** --backlog-horizon-threshold, in seconds. */
  readonly backlogHorizonThresholdSeconds?: number;
}

export class Controller {
  private readonly queue = new WorkQueue();
  private informers: Informers | undefined;
  private running: Promise<void> | undefined;
  private readonly deps: ReconcileDeps;
  private readonly sourceWatch: SourceWatch;

  constructor(private readonly options: ControllerOptions) {
    this.sourceWatch = new SourceWatch(options.redis, (key) => this.queue.add(key), options.log);
    this.deps = {
      sourceWatch: this.sourceWatch,
      api: new ClusterApi(options.kubeConfig),
      redis: options.redis,
      metrics: options.metrics,
      log: options.log,
      now: () => new Date(),
      resyncMs: options.resyncMs,
      sourceMemory: new Map(),
      backlogHorizonThresholdSeconds: options.backlogHorizonThresholdSeconds,
    };
  }

  start(): void {
    const { log, metrics } = this.options;
    this.informers = startInformers(
      this.options.kubeConfig,
      this.options.namespace,
      (key) => this.queue.add(key),
      log,
    );
    this.running = this.queue.run(
      async (key) => {
        const { namespace, name } = splitKey(key);
        return metrics.observeReconcile(() => reconcileCluster(this.deps, namespace, name));
      },
      this.options.workers,
      (key, error, retryInMs) => log.error({ err: error, key, retryInMs }, "reconcile failed"),
    );
    // Everything once at start, besides what the informers list: requeue-after keeps each cluster fresh.
    void this.enqueueAll();
  }

  private async enqueueAll(): Promise<void> {
    try {
      for (const cluster of await this.deps.api.listClusters(this.options.namespace)) {
        const { namespace, name } = cluster.metadata ?? {};
        if (namespace !== undefined && name !== undefined) this.queue.add(keyOf(namespace, name));
      }
    } catch (error) {
      this.options.log.warn({ err: error }, "listing RedisClusters failed");
    }
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    this.sourceWatch.stop();
    await this.informers?.stop();
    await this.running;
  }
}
