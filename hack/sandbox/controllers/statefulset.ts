/**
 * The StatefulSet controller, as kube-controller-manager runs it: pods `<name>-0 … <name>-(n-1)` with
 * stable names, one PersistentVolumeClaim per volumeClaimTemplate and pod (`<template>-<pod>`, kept when the
 * pod or the StatefulSet goes), OrderedReady or Parallel pod management, RollingUpdate (highest ordinal first,
 * honouring `partition`) or OnDelete updates, and the status counters.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { ApiCore } from "../api/core.ts";
import type { ResourceType } from "../api/resources.ts";
import { ApiError, clone, isObject, type JsonObject, type KubeObject } from "../api/types.ts";
import { KeyedQueue } from "./queue.ts";

const POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name";
const POD_INDEX_LABEL = "apps.kubernetes.io/pod-index";
const REVISION_LABEL = "controller-revision-hash";

export const isPodReady = (pod: KubeObject): boolean => {
  const conditions = (pod.status as JsonObject | undefined)?.conditions;
  return (
    Array.isArray(conditions) &&
    conditions.some((c) => isObject(c) && c.type === "Ready" && c.status === "True")
  );
};

const isRunningAndReady = (pod: KubeObject): boolean =>
  !pod.metadata.deletionTimestamp &&
  (pod.status as JsonObject | undefined)?.phase === "Running" &&
  isPodReady(pod);

interface StatefulSetSpec {
  replicas?: number;
  serviceName?: string;
  podManagementPolicy?: "OrderedReady" | "Parallel";
  updateStrategy?: { type?: "RollingUpdate" | "OnDelete"; rollingUpdate?: { partition?: number } };
  template?: { metadata?: JsonObject; spec?: JsonObject };
  volumeClaimTemplates?: KubeObject[];
  selector?: unknown;
}

export class StatefulSetController {
  private readonly queue: KeyedQueue;
  private readonly stsType: ResourceType;
  private readonly podType: ResourceType;
  private readonly pvcType: ResourceType;
  private stopListening: (() => void) | undefined;

  constructor(
    private readonly core: ApiCore,
    private readonly logger: Logger,
  ) {
    this.stsType = core.type("apps", "v1", "statefulsets");
    this.podType = core.type("", "v1", "pods");
    this.pvcType = core.type("", "v1", "persistentvolumeclaims");
    this.queue = new KeyedQueue((key) => this.reconcile(key), logger);
  }

  start(): void {
    this.stopListening = this.core.store.onChange((change) => {
      if (change.key === "apps/statefulsets") {
        this.queue.add(`${change.object.metadata.namespace ?? ""}/${change.object.metadata.name ?? ""}`);
      } else if (change.key === "/pods") {
        const owner = (change.object.metadata.ownerReferences ?? []).find(
          (o) => o.kind === "StatefulSet" && o.controller,
        );
        if (owner) this.queue.add(`${change.object.metadata.namespace ?? ""}/${owner.name}`);
      }
    });
    for (const sts of this.core.store.list("apps/statefulsets")) {
      this.queue.add(`${sts.metadata.namespace ?? ""}/${sts.metadata.name ?? ""}`);
    }
  }

  async stop(): Promise<void> {
    this.stopListening?.();
    await this.queue.stop();
  }

  private async reconcile(key: string): Promise<void> {
    const [namespace = "", name = ""] = key.split("/");
    const sts = this.core.tryGet(this.stsType, namespace, name);
    if (!sts || sts.metadata.deletionTimestamp) return;
    const spec = (sts.spec ?? {}) as StatefulSetSpec;
    const replicas = spec.replicas ?? 1;
    const revision = templateHash(spec.template);
    const pods = this.core
      .list(this.podType, namespace)
      .items.filter((p) => (p.metadata.ownerReferences ?? []).some((o) => o.uid === sts.metadata.uid));
    const byOrdinal = new Map<number, KubeObject>();
    for (const pod of pods) {
      const ordinal = Number((pod.metadata.name ?? "").slice(name.length + 1));
      if (Number.isInteger(ordinal)) byOrdinal.set(ordinal, pod);
    }
    const parallel = spec.podManagementPolicy === "Parallel";

    // Create missing pods, in order unless Parallel.
    for (let ordinal = 0; ordinal < replicas; ordinal++) {
      const pod = byOrdinal.get(ordinal);
      if (!pod) {
        await this.createPod(sts, spec, ordinal, revision);
        if (!parallel) return;
        continue;
      }
      if (!parallel && !isRunningAndReady(pod)) return;
    }
    // Scale down from the highest ordinal.
    const extra = [...byOrdinal.keys()].filter((o) => o >= replicas).sort((a, b) => b - a);
    for (const ordinal of extra) {
      const pod = byOrdinal.get(ordinal);
      if (pod && !pod.metadata.deletionTimestamp) await this.deletePod(pod);
      if (!parallel) break;
    }
    // Rolling update: replace the highest-ordinal outdated pod once every pod is ready.
    if ((spec.updateStrategy?.type ?? "RollingUpdate") === "RollingUpdate" && extra.length === 0) {
      const partition = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
      const current = [...byOrdinal.entries()].filter(([o]) => o < replicas);
      const allReady = current.length === replicas && current.every(([, p]) => isRunningAndReady(p));
      const outdated = current
        .filter(([o, p]) => o >= partition && p.metadata.labels?.[REVISION_LABEL] !== revision)
        .sort(([a], [b]) => b - a);
      const first = outdated[0];
      if (allReady && first) await this.deletePod(first[1]);
    }
    await this.writeStatus(sts, revision);
  }

  private async createPod(
    sts: KubeObject,
    spec: StatefulSetSpec,
    ordinal: number,
    revision: string,
  ): Promise<void> {
    const namespace = sts.metadata.namespace ?? "";
    const podName = `${sts.metadata.name ?? ""}-${ordinal}`;
    const template = clone(spec.template ?? {});
    const podSpec = (template.spec ?? {}) as JsonObject;
    const volumes = Array.isArray(podSpec.volumes) ? (podSpec.volumes as JsonObject[]) : [];
    for (const claim of spec.volumeClaimTemplates ?? []) {
      const claimName = `${claim.metadata.name ?? ""}-${podName}`;
      if (!this.core.tryGet(this.pvcType, namespace, claimName)) {
        await this.core.create(this.pvcType, namespace, {
          metadata: {
            name: claimName,
            labels: { ...(template.metadata?.labels as Record<string, string> | undefined) },
          },
          spec: claim.spec ?? {},
        });
      }
      const volume = { name: claim.metadata.name, persistentVolumeClaim: { claimName } };
      const index = volumes.findIndex((v) => v.name === claim.metadata.name);
      if (index >= 0) volumes[index] = volume;
      else volumes.push(volume);
    }
    const templateMeta = (template.metadata ?? {}) as JsonObject;
    await this.core.create(this.podType, namespace, {
      metadata: {
        ...templateMeta,
        name: podName,
        labels: {
          ...(templateMeta.labels as Record<string, string> | undefined),
          [POD_NAME_LABEL]: podName,
          [POD_INDEX_LABEL]: String(ordinal),
          [REVISION_LABEL]: revision,
        },
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: "StatefulSet",
            name: sts.metadata.name ?? "",
            uid: sts.metadata.uid ?? "",
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        ...podSpec,
        volumes,
        hostname: podName,
        ...(spec.serviceName ? { subdomain: spec.serviceName } : {}),
      },
    });
    this.logger.debug({ pod: podName }, "statefulset created pod");
  }

  private async deletePod(pod: KubeObject): Promise<void> {
    try {
      await this.core.delete(this.podType, pod.metadata.namespace, pod.metadata.name ?? "");
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 404)) throw error;
    }
  }

  private async writeStatus(sts: KubeObject, revision: string): Promise<void> {
    const pods = this.core
      .list(this.podType, sts.metadata.namespace)
      .items.filter(
        (p) =>
          (p.metadata.ownerReferences ?? []).some((o) => o.uid === sts.metadata.uid) &&
          !p.metadata.deletionTimestamp,
      );
    const ready = pods.filter(isRunningAndReady).length;
    const updated = pods.filter((p) => p.metadata.labels?.[REVISION_LABEL] === revision).length;
    const updateRevision = `${sts.metadata.name ?? ""}-${revision}`;
    const previous = (sts.status as { currentRevision?: string } | undefined)?.currentRevision;
    // The current revision moves to the update revision once every pod runs it.
    const replicas = (sts.spec as StatefulSetSpec | undefined)?.replicas ?? 1;
    const currentRevision = updated >= replicas || !previous ? updateRevision : previous;
    const status = {
      observedGeneration: sts.metadata.generation ?? 1,
      replicas: pods.length,
      readyReplicas: ready,
      availableReplicas: ready,
      currentReplicas: currentRevision === updateRevision ? updated : pods.length - updated,
      updatedReplicas: updated,
      currentRevision,
      updateRevision,
      collisionCount: 0,
    };
    try {
      await this.core.patch(
        this.stsType,
        sts.metadata.namespace,
        sts.metadata.name ?? "",
        "merge",
        { status },
        {},
        "status",
      );
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 404)) throw error;
    }
  }
}

/** The revision of a pod template, like the controller-revision-hash label. */
export function templateHash(template: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(template ?? {}))
    .digest("hex")
    .slice(0, 10);
}
