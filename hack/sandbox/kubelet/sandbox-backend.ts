/**
 * The kubelet's cluster when the API server is the embedded one: reads from the store, writes through
 * ApiCore, and the sandbox's Service network and pod address pool. It also plays the parts a real cluster
 * gives other components: the scheduler (a new pod is bound to the one node at once) and the pod defaults
 * the API server fills in.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { ApiCore } from "../api/core.ts";
import type { ResourceType } from "../api/resources.ts";
import { ApiError, type JsonObject, type KubeObject } from "../api/types.ts";
import type { IpPool } from "../network/addresses.ts";
import type { ServiceNetwork } from "../network/services.ts";
import type { NodeBackend, PodEvents, ReferencedKind } from "./backend.ts";

export class SandboxNodeBackend implements NodeBackend {
  readonly hostIp = "127.0.0.1";
  readonly kubernetesService = { host: "kubernetes.default.svc", port: 443 };
  private readonly podType: ResourceType;
  private readonly eventType: ResourceType;

  constructor(
    private readonly core: ApiCore,
    private readonly network: ServiceNetwork,
    private readonly podIps: IpPool,
    nodeName: string,
    /** PVC data lives under `<dir>/pvcs`. */
    dir: string,
  ) {
    this.podType = core.type("", "v1", "pods");
    this.eventType = core.type("", "v1", "events");
    core.addHooks("", "pods", {
      prepareCreate: (pod) => {
        const spec = (pod.spec ?? {}) as JsonObject;
        spec.nodeName ??= nodeName;
        spec.restartPolicy ??= "Always";
        spec.terminationGracePeriodSeconds ??= 30;
        spec.dnsPolicy ??= "ClusterFirst";
        spec.schedulerName ??= "default-scheduler";
        pod.spec = spec;
      },
      // A pod on a node is deleted gracefully: the kubelet stops it, then confirms the deletion.
      gracefulDelete: (pod, options) =>
        options.gracePeriodSeconds !== 0 && (pod.spec as JsonObject | undefined)?.nodeName !== undefined,
    });
    core.addHooks("", "persistentvolumeclaims", {
      afterDelete: (claim) =>
        rmSync(join(dir, "pvcs", claim.metadata.namespace ?? "", claim.metadata.name ?? ""), {
          recursive: true,
          force: true,
        }),
    });
  }

  watch(events: PodEvents): () => void {
    const stop = this.core.store.onChange((change) => {
      if (change.key === "/pods") {
        if (change.type === "DELETED") events.podGone(change.object);
        else events.podChanged(change.object);
      } else if (change.key === "/configmaps" || change.key === "/secrets") {
        events.objectsChanged(change.object.metadata.namespace ?? "");
      }
    });
    for (const pod of this.core.store.list("/pods")) events.podChanged(pod);
    return stop;
  }

  getPod(namespace: string, name: string): KubeObject | undefined {
    return this.core.store.get("/pods", namespace, name);
  }

  getObject(kind: ReferencedKind, namespace: string, name: string): KubeObject | undefined {
    return this.core.store.get(`/${kind}`, namespace, name);
  }

  /** The embedded API server accepts any bearer token, so a projected token is a fixed string. */
  getServiceAccountToken(): string | undefined {
    return "sandbox-service-account-token";
  }

  async prepare(): Promise<void> {}

  async writePodStatus(pod: { namespace: string; name: string }, status: object): Promise<boolean> {
    try {
      await this.core.patch(this.podType, pod.namespace, pod.name, "merge", { status }, {}, "status");
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return false;
      throw error;
    }
  }

  async confirmDeletion(pod: KubeObject): Promise<void> {
    const current = this.core.store.get("/pods", pod.metadata.namespace, pod.metadata.name ?? "");
    if (current && current.metadata.uid === pod.metadata.uid)
      this.core.forceDelete(this.podType, pod.metadata.namespace, pod.metadata.name ?? "");
  }

  async recordEvent(event: KubeObject): Promise<void> {
    await this.core.create(this.eventType, event.metadata.namespace, event);
  }

  allocatePodIp(): string {
    return this.podIps.allocate();
  }

  releasePodIp(ip: string): void {
    this.podIps.release(ip);
  }

  registerHostsFile(key: string, path: string, namespace: string, self: string[]): void {
    this.network.registerHostsFile(key, path, namespace, self);
  }

  unregisterHostsFile(key: string): void {
    this.network.unregisterHostsFile(key);
  }
}
