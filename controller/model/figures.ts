/**
 * The figures the controller measures on each pass: computed by the replication engine, exported by the
 * metrics. Here so that the metrics, a low-level helper, need not import the engine.
 */

/** Per pod, for the metrics. */
export interface PodReplicationFigures {
  readonly pod: string;
  /**
   * 1 when the pod is a replica with its link up, 0 when a replica with its link down or a pod the controller
   * could not ask; absent for a primary.
   */
  readonly linkUp?: 0 | 1;
  /** Absent when the pod could not be asked: nobody knows how long its link has been down. */
  readonly linkDownSeconds?: number;
  /** Against its upstream's own offset: the source's for pods following the source, the leader's otherwise. */
  readonly lagBytes?: number;
}

/** Per DR cluster, for the metrics: each absent while it cannot be computed (see replication/decisions/rpo.ts). */
export interface DrFigures {
  readonly writeRateBytesPerSecond?: number;
  readonly rpoSeconds?: number;
  readonly backlogHorizonSeconds?: number;
}
