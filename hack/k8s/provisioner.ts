/**
 * Persistent volumes for a real local cluster: a default StorageClass `standard` and a provisioner for it,
 * in the shape of an external provisioner (the PV controller marks a claim of this class with
 * `volume.kubernetes.io/storage-provisioner`; the provisioner creates a PersistentVolume bound to the claim
 * by `claimRef`; the PV controller completes the binding). Each volume is a directory on the node, at the
 * path the node agent mounts for the claim (`<dir>/<namespace>/<claim>`); a released volume is deleted with
 * its data (reclaim policy Delete), as a cloud disk would be.
 */
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { JsonObject, KubeObject } from "../sandbox/api/types.ts";
import { ApiRequestError, JsonInformer, type JsonClient } from "./json-client.ts";

export const STORAGE_CLASS = "standard";
export const PROVISIONER = "redis-dr.local/host-path";

export class Provisioner {
  private readonly claims: JsonInformer;
  private readonly volumes: JsonInformer;

  constructor(
    private readonly client: JsonClient,
    /** Where claims' data lives: `<dir>/<namespace>/<claim>` (the node agent's `<its dir>/pvcs`). */
    private readonly dir: string,
    private readonly logger: Logger,
  ) {
    this.claims = new JsonInformer(
      client,
      "/api/v1/persistentvolumeclaims",
      { upsert: (claim) => void this.provision(claim), remove: () => undefined },
      logger,
    );
    this.volumes = new JsonInformer(
      client,
      "/api/v1/persistentvolumes",
      { upsert: (volume) => void this.reclaim(volume), remove: () => undefined },
      logger,
    );
  }

  async start(): Promise<void> {
    try {
      await this.client.create("/apis/storage.k8s.io/v1/storageclasses", {
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: {
          name: STORAGE_CLASS,
          annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
        },
        provisioner: PROVISIONER,
        reclaimPolicy: "Delete",
        volumeBindingMode: "Immediate",
      });
    } catch (error) {
      if (!(error instanceof ApiRequestError && error.code === 409)) throw error;
    }
    await Promise.all([this.claims.start(), this.volumes.start()]);
  }

  stop(): void {
    this.claims.stop();
    this.volumes.stop();
  }

  private async provision(claim: KubeObject): Promise<void> {
    const spec = (claim.spec ?? {}) as JsonObject;
    const annotations = claim.metadata.annotations ?? {};
    if (spec.volumeName || annotations["volume.kubernetes.io/storage-provisioner"] !== PROVISIONER) return;
    const namespace = claim.metadata.namespace ?? "";
    const name = claim.metadata.name ?? "";
    const path = join(this.dir, namespace, name);
    const resources = (spec.resources ?? {}) as { requests?: { storage?: string } };
    try {
      await this.client.create("/api/v1/persistentvolumes", {
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: {
          name: `pvc-${claim.metadata.uid ?? ""}`,
          annotations: { "pv.kubernetes.io/provisioned-by": PROVISIONER },
        },
        spec: {
          capacity: { storage: resources.requests?.storage ?? "1Gi" },
          accessModes: spec.accessModes ?? ["ReadWriteOnce"],
          persistentVolumeReclaimPolicy: "Delete",
          storageClassName: spec.storageClassName ?? STORAGE_CLASS,
          hostPath: { path, type: "DirectoryOrCreate" },
          claimRef: {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            namespace,
            name,
            uid: claim.metadata.uid,
          },
        },
      });
      mkdirSync(path, { recursive: true });
      // World-writable, as hostPath provisioners make them (local-path-provisioner): a pod running as a
      // non-root user without fsGroup can still write its claim.
      chmodSync(path, 0o777);
      this.logger.info({ claim: `${namespace}/${name}` }, "provisioned a volume");
    } catch (error) {
      if (!(error instanceof ApiRequestError && error.code === 409))
        this.logger.error({ err: error, claim: `${namespace}/${name}` }, "cannot provision a volume");
    }
  }

  private async reclaim(volume: KubeObject): Promise<void> {
    const spec = (volume.spec ?? {}) as JsonObject;
    const phase = (volume.status as JsonObject | undefined)?.phase;
    if (
      phase !== "Released" ||
      volume.metadata.annotations?.["pv.kubernetes.io/provisioned-by"] !== PROVISIONER
    )
      return;
    const path = (spec.hostPath as { path?: string } | undefined)?.path;
    try {
      await this.client.delete(`/api/v1/persistentvolumes/${volume.metadata.name ?? ""}`);
      if (path?.startsWith(this.dir)) rmSync(path, { recursive: true, force: true });
      this.logger.info({ volume: volume.metadata.name }, "deleted a released volume and its data");
    } catch (error) {
      if (!(error instanceof ApiRequestError && error.code === 404))
        this.logger.error({ err: error, volume: volume.metadata.name }, "cannot delete a released volume");
    }
  }
}
