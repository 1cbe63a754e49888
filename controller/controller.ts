/**
 * The controller: informers feed a keyed work queue and hold the caches the reconcile reads; workers
 * reconcile one RedisCluster at a time each, once the caches have listed what exists.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { ClusterApi } from "./kube/cluster-api.ts";
import type { ControllerMetrics } from "./metrics/metrics.ts";
import type { RedisAdminFactory } from "./redis/admin-port.ts";
import { reconcileCluster } from "./reconcile/reconciler.ts";
import { SourceWatch } from "./replication/source-watch.ts";
import type { ReconcileDeps } from "./reconcile/context.ts";
import { splitKey, makeInformers } from "./watch/informers.ts";
import type { Informers } from "./watch/informers.ts";
import { WorkQueue } from "./watch/work-queue.ts";

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string | undefined;
  readonly redis: RedisAdminFactory;
  readonly metrics: ControllerMetrics;
  readonly log: Logger;
  readonly resyncMs: number;
  /** How long a Secret read is used again (kube/cluster-api.ts). */
  readonly secretRefreshMs?: number;
  readonly workers: number;
  /** --backlog-horizon-threshold, in seconds. */
  readonly backlogHorizonThresholdSeconds?: number;
}

export class Controller {
  private readonly queue = new WorkQueue();
  private readonly informers: Informers;
  private running: Promise<void> | undefined;
  private readonly deps: ReconcileDeps;
  private readonly sourceWatch: SourceWatch;
  private stopped = false;

  constructor(private readonly options: ControllerOptions) {
    this.sourceWatch = new SourceWatch(options.redis, (key) => this.queue.add(key), options.log);
    // Informers are created here but list and watch only from start(), after the API wrapper they tell
    // of what their caches take exists.
    this.informers = makeInformers(
      options.kubeConfig,
      options.namespace,
      (key) => this.queue.add(key),
      options.log,
      (resource, object) => this.deps.api.cacheShows(resource, object),
    );
    this.deps = {
      sourceWatch: this.sourceWatch,
      api: new ClusterApi(options.kubeConfig, undefined, {
        cache: this.informers.cache,
        secretRefreshMs: options.secretRefreshMs ?? 60_000,
        log: options.log,
      }),
      redis: options.redis,
      metrics: options.metrics,
      log: options.log,
      now: () => new Date(),
      resyncMs: options.resyncMs,
      sourceMemory: new Map(),
      specHashes: new Map(),
      backlogHorizonThresholdSeconds: options.backlogHorizonThresholdSeconds,
    };
  }

  start(): void {
    const { log, metrics } = this.options;
    this.informers.start();
    // Every RedisCluster is enqueued by its informer's initial list; the workers wait until every cache has
    // listed, so a reconcile never takes "not in the cache yet" for "deleted".
    void this.informers.synced.then(() => {
      if (this.stopped) return;
      log.info("caches synced");
      this.running = this.queue.run(
        async (key) => {
          const { namespace, name } = splitKey(key);
          return metrics.observeReconcile(() => reconcileCluster(this.deps, namespace, name));
        },
        this.options.workers,
        (key, error, retryInMs) => log.error({ err: error, key, retryInMs }, "reconcile failed"),
      );
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.shutdown();
    this.sourceWatch.stop();
    await this.informers.stop();
    await this.running;
  }
}
