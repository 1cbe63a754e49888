/**
 * What the kubelet needs from its cluster, so the same pod runner serves two API servers: the embedded one
 * (sandbox-backend.ts: direct calls into ApiCore) and a real kube-apiserver (hack/k8s/node-agent.ts: a
 * client of the API server with the node's own credentials).
 *
 * Reads are synchronous, from what the backend holds (the store, or caches filled by watches and by
 * `prepare`), because the kubelet decides on them inside its event handlers.
 */
import type { KubeObject } from "../api/types.ts";

export interface PodEvents {
  /** A pod bound to this node was added or changed (including a deletionTimestamp being set). */
  podChanged(pod: KubeObject): void;
  /** A pod bound to this node is gone from the API (deleted with no grace period left). */
  podGone(pod: KubeObject): void;
  /** ConfigMaps, Secrets or tokens of this namespace may have changed: refresh the pods' volume files. */
  objectsChanged(namespace: string): void;
}

export type ReferencedKind = "configmaps" | "secrets" | "persistentvolumeclaims";

export interface NodeBackend {
  /** The node's address (status.hostIP). */
  readonly hostIp: string;
  /** Where pods reach the API server (KUBERNETES_SERVICE_HOST / _PORT). */
  readonly kubernetesService: { host: string; port: number };
  /** Subscribes to this node's pods and the objects they reference; calls podChanged for existing ones. */
  watch(events: PodEvents): () => void;
  /** The pod as the API has it now, or undefined when it is gone. */
  getPod(namespace: string, name: string): KubeObject | undefined;
  /** A ConfigMap, Secret or PVC a pod references (after `prepare`), or undefined when it does not exist. */
  getObject(kind: ReferencedKind, namespace: string, name: string): KubeObject | undefined;
  /** A projected ServiceAccount token for the pod (after `prepare`), or undefined when none was issued. */
  getServiceAccountToken(pod: KubeObject, audience: string | undefined): string | undefined;
  /** Fetches what the pod references (objects, tokens) so the synchronous reads can answer. */
  prepare(pod: KubeObject): Promise<void>;
  /** Writes the pod's status subresource; resolves false when the pod no longer exists. */
  writePodStatus(pod: { namespace: string; name: string; uid: string }, status: object): Promise<boolean>;
  /** Removes a pod whose containers have stopped (the kubelet's final, zero-grace delete). */
  confirmDeletion(pod: KubeObject): Promise<void>;
  recordEvent(event: KubeObject): Promise<void>;
  allocatePodIp(): string;
  releasePodIp(ip: string): void;
  /** Keeps a pod's hosts file (its cluster DNS) in sync; `self` lines name the pod itself. */
  registerHostsFile(key: string, path: string, namespace: string, self: string[]): void;
  unregisterHostsFile(key: string): void;
}
