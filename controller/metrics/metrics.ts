/**
 * The controller's Prometheus metrics, in their own Registry (no global state: tests build their own).
 * Per-pod replication series use the reference's names: redis_replication_lag_bytes, redis_master_link_up.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { PromotionStatus } from "../../schemas/generated/rediscluster.ts";
import type { DrFigures, PodReplicationFigures } from "../model/figures.ts";

type PromotionPhase = NonNullable<PromotionStatus["phase"]>;

export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly lag = new Gauge({
    name: "redis_replication_lag_bytes",
    help: "Bytes a pod is behind its upstream, measured against the upstream's own offset (the source's for pods replicating from it).",
    labelNames: ["namespace", "cluster", "pod"],
    registers: [this.registry],
  });
  private readonly linkUp = new Gauge({
    name: "redis_master_link_up",
    help: "1 when the pod's replication link to its primary is up, 0 when it is down.",
    labelNames: ["namespace", "cluster", "pod"],
    registers: [this.registry],
  });
  private readonly linkDown = new Gauge({
    name: "redis_master_link_down_seconds",
    help: "Seconds the pod's replication link has been down (0 while up; no series while the pod cannot be asked).",
    labelNames: ["namespace", "cluster", "pod"],
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: "redis_dr_controller_reconcile_total",
    help: "Reconciles by result (success, requeue, error).",
    labelNames: ["result"],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: "redis_dr_controller_reconcile_errors_total",
    help: "Reconciles that failed with an error.",
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: "redis_dr_controller_reconcile_duration_seconds",
    help: "Time a reconcile took.",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly promotionPhase = new Gauge({
    name: "redis_promotion_phase",
    help: "1 for the phase the cluster's promotion is in (status.promotion.phase); no series when there is no promotion.",
    labelNames: ["namespace", "cluster", "phase"],
    registers: [this.registry],
  });
  private readonly writeRate = new Gauge({
    name: "redis_dr_source_write_rate_bytes_per_second",
    help:
      "Growth of the source's master_repl_offset between the controller's last two sightings of it (bytes of " +
      "replication stream per second). No series before a second sighting, after a change of the source's " +
      "history, or while the source cannot be asked.",
    labelNames: ["namespace", "cluster"],
    registers: [this.registry],
  });
  private readonly rpo = new Gauge({
    name: "redis_dr_rpo_seconds",
    help:
      "How far back in time the DR leader's data lies (what a promotion now would lose, in time, if the " +
      "source keeps writing): its lag in bytes against the source's offset over the source's write rate; 0 " +
      "when it lags by 0 bytes. While the source cannot be asked: that lag-time when it was last seen plus " +
      "the seconds since (assumes the leader received nothing since; errs high). No series before the " +
      "first write rate, or while bytes are missing and the source writes nothing (they cannot be dated).",
    labelNames: ["namespace", "cluster"],
    registers: [this.registry],
  });
  private readonly backlogHorizon = new Gauge({
    name: "redis_dr_backlog_horizon_seconds",
    help:
      "How long the leader's link may be down before the source's backlog no longer holds what the leader " +
      "lacks and only a full cross-region resync helps: (source repl_backlog_size - lag bytes) / write rate. " +
      "No series while the write rate is 0 or unknown.",
    labelNames: ["namespace", "cluster"],
    registers: [this.registry],
  });
  private readonly promotionDataLoss = new Gauge({
    name: "redis_dr_promotion_data_loss_bytes",
    help:
      "status.promotion.lagAtPromotionBytes: bytes the leader was behind the source when the promotion broke " +
      "replication (the data-loss window; a lower bound when the source could not be asked). No series " +
      "before a promotion has broken replication.",
    labelNames: ["namespace", "cluster"],
    registers: [this.registry],
  });
  private readonly podsByCluster = new Map<string, Set<string>>();
  private readonly phaseByCluster = new Map<string, PromotionPhase>();

  /** One series at 1 for the current phase; the previous phase's series goes, so alerts see transitions. */
  setPromotionPhase(namespace: string, cluster: string, phase: PromotionPhase | undefined): void {
    const key = `${namespace}/${cluster}`;
    const previous = this.phaseByCluster.get(key);
    if (previous !== undefined && previous !== phase)
      this.promotionPhase.remove({ namespace, cluster, phase: previous });
    if (phase === undefined) {
      this.phaseByCluster.delete(key);
      return;
    }
    this.promotionPhase.set({ namespace, cluster, phase }, 1);
    this.phaseByCluster.set(key, phase);
  }

  /** The DR pair's figures; each one absent (undefined) has no series. */
  setDrFigures(namespace: string, cluster: string, figures: DrFigures | undefined): void {
    const labels = { namespace, cluster };
    const set = (gauge: Gauge, value: number | undefined) => {
      if (value === undefined) gauge.remove(labels);
      else gauge.set(labels, value);
    };
    set(this.writeRate, figures?.writeRateBytesPerSecond);
    set(this.rpo, figures?.rpoSeconds);
    set(this.backlogHorizon, figures?.backlogHorizonSeconds);
  }

  setPromotionDataLoss(namespace: string, cluster: string, bytes: number | undefined): void {
    if (bytes === undefined) this.promotionDataLoss.remove({ namespace, cluster });
    else this.promotionDataLoss.set({ namespace, cluster }, bytes);
  }

  /**
   * Runs one reconcile, timing it and counting it by result: `success`, `requeue` (it asked to run again
   * after a delay) or `error` (it threw; the error is rethrown for the work queue's backoff).
   */
  async observeReconcile<T extends { readonly requeueAfterMs?: number | undefined }>(
    reconcile: () => Promise<T>,
  ): Promise<T> {
    const stopTimer = this.reconcileDuration.startTimer();
    try {
      const result = await reconcile();
      this.reconciles.inc({ result: result.requeueAfterMs === undefined ? "success" : "requeue" });
      return result;
    } catch (error) {
      this.reconciles.inc({ result: "error" });
      this.reconcileErrors.inc();
      throw error;
    } finally {
      stopTimer();
    }
  }

  /** Replaces the cluster's per-pod series with these figures (pods that went away lose theirs). */
  setPodFigures(namespace: string, cluster: string, figures: readonly PodReplicationFigures[]): void {
    const key = `${namespace}/${cluster}`;
    const seen = new Set<string>();
    for (const f of figures) {
      const labels = { namespace, cluster, pod: f.pod };
      seen.add(f.pod);
      if (f.linkUp === undefined) {
        // A primary has no link to report.
        this.linkUp.remove(labels);
        this.linkDown.remove(labels);
        this.lag.remove(labels);
        continue;
      }
      this.linkUp.set(labels, f.linkUp);
      // No figure when the pod could not be asked: a series would claim 0 s (or freeze at its last value)
      // while nobody knows; link_up 0 already says the pod is not replicating as far as the controller knows.
      if (f.linkDownSeconds === undefined) this.linkDown.remove(labels);
      else this.linkDown.set(labels, f.linkDownSeconds);
      if (f.lagBytes === undefined) this.lag.remove(labels);
      else this.lag.set(labels, f.lagBytes);
    }
    for (const pod of this.podsByCluster.get(key) ?? []) {
      if (!seen.has(pod)) this.forgetPod(namespace, cluster, pod);
    }
    this.podsByCluster.set(key, seen);
  }

  forgetCluster(namespace: string, cluster: string): void {
    const key = `${namespace}/${cluster}`;
    for (const pod of this.podsByCluster.get(key) ?? []) this.forgetPod(namespace, cluster, pod);
    this.podsByCluster.delete(key);
    this.setPromotionPhase(namespace, cluster, undefined);
    this.setDrFigures(namespace, cluster, undefined);
    this.setPromotionDataLoss(namespace, cluster, undefined);
  }

  private forgetPod(namespace: string, cluster: string, pod: string): void {
    const labels = { namespace, cluster, pod };
    this.lag.remove(labels);
    this.linkUp.remove(labels);
    this.linkDown.remove(labels);
  }
}
