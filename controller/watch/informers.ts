/**
 * Informers for RedisClusters and the Pods and StatefulSets they own. Callbacks only enqueue the owning
 * cluster's key: client-node does not await them, and the work belongs to the queue.
 *
 * client-node informers stop on a watch error and do not restart themselves; `watchWithRestart` restarts
 * them after a backoff, so the controller recovers from API server hiccups, 410 Gone and broken
 * connections without a process restart.
 */
import { makeInformer } from "@kubernetes/client-node";
import type {
  Informer,
  KubeConfig,
  KubernetesObject,
  ListPromise,
  ObjectCache,
  V1ListMeta,
} from "@kubernetes/client-node";
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { GROUP, PLURAL, VERSION } from "../../schemas/rediscluster.ts";
import { isRedisCluster } from "../kube/cluster-api.ts";
import { CLUSTER_LABEL } from "../kube/resources.ts";

export const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The RedisCluster a watched object belongs to (itself, or the owner named by its cluster label). */
function clusterKeyOf(object: KubernetesObject, own: boolean): string | undefined {
  const namespace = object.metadata?.namespace;
  const name = own ? object.metadata?.name : object.metadata?.labels?.[CLUSTER_LABEL];
  return namespace === undefined || name === undefined ? undefined : keyOf(namespace, name);
}

export interface Restartable {
  stop(): Promise<void>;
}

function watchWithRestart<T extends KubernetesObject>(
  informer: Informer<T> & ObjectCache<T>,
  what: string,
  log: Logger,
  enqueue: (key: string) => void,
  own: boolean,
): Restartable {
  const onObject = (object: T) => {
    const key = clusterKeyOf(object, own);
    if (key !== undefined) enqueue(key);
  };
  // The controller's own status writes update the RedisCluster too; reacting to them would reconcile in a
  // loop. Only a new generation (a spec change) counts: status freshness comes from the requeue period.
  const generations = new Map<string, number | undefined>();
  const onUpdate = (object: T) => {
    const key = clusterKeyOf(object, own);
    if (key === undefined) return;
    if (own) {
      const generation = object.metadata?.generation;
      if (generations.has(key) && generations.get(key) === generation) return;
      generations.set(key, generation);
    }
    enqueue(key);
  };
  informer.on("add", (object) => {
    const key = clusterKeyOf(object, own);
    if (own && key !== undefined) generations.set(key, object.metadata?.generation);
    onObject(object);
  });
  informer.on("update", onUpdate);
  informer.on("delete", (object) => {
    const key = clusterKeyOf(object, own);
    if (key !== undefined) generations.delete(key);
    onObject(object);
  });
  return keepWatching(informer, what, log);
}

/**
 * Starts an informer and restarts it after a backoff (250 ms doubling to 30 s) whenever its watch fails:
 * client-node informers stop on a watch error and do not restart themselves.
 */
export function keepWatching<T extends KubernetesObject>(
  informer: Informer<T>,
  what: string,
  log: Logger,
): Restartable {
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  informer.on("connect", () => {
    failures = 0;
  });
  const start = () => {
    informer.start().catch((error: unknown) => restart(error));
  };
  const restart = (error: unknown) => {
    if (stopped || timer !== undefined) return;
    failures++;
    const delay = Math.min(30_000, 250 * 2 ** Math.min(failures - 1, 7));
    log.warn({ err: error, watch: what, retryInMs: delay }, "watch failed; restarting");
    timer = setTimeout(() => {
      timer = undefined;
      if (!stopped) start();
    }, delay);
  };
  informer.on("error", restart);
  start();
  return {
    stop: async () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await informer.stop();
    },
  };
}

export interface Informers {
  stop(): Promise<void>;
}

export function startInformers(
  kubeConfig: KubeConfig,
  namespace: string | undefined,
  enqueue: (key: string) => void,
  log: Logger,
): Informers {
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const scope = namespace === undefined ? "" : `/namespaces/${namespace}`;

  // The custom objects API answers untyped JSON: checked here, where it enters.
  const listClusters: ListPromise<KubernetesObject> = async () => {
    const list: unknown =
      namespace === undefined
        ? await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
        : await custom.listNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace,
            plural: PLURAL,
          });
    const { items, metadata } = (list ?? {}) as { items?: unknown; metadata?: V1ListMeta };
    return { metadata, items: Array.isArray(items) ? items.filter(isRedisCluster) : [] };
  };
  const listPods: ListPromise<KubernetesObject> = async () =>
    namespace === undefined
      ? await core.listPodForAllNamespaces({ labelSelector: CLUSTER_LABEL })
      : await core.listNamespacedPod({ namespace, labelSelector: CLUSTER_LABEL });
  const listStatefulSets: ListPromise<KubernetesObject> = async () =>
    namespace === undefined
      ? await apps.listStatefulSetForAllNamespaces({ labelSelector: CLUSTER_LABEL })
      : await apps.listNamespacedStatefulSet({ namespace, labelSelector: CLUSTER_LABEL });

  const watches = [
    watchWithRestart(
      makeInformer(kubeConfig, `/apis/${GROUP}/${VERSION}${scope}/${PLURAL}`, listClusters),
      "redisclusters",
      log,
      enqueue,
      true,
    ),
    watchWithRestart(
      makeInformer(kubeConfig, `/api/v1${scope}/pods`, listPods, CLUSTER_LABEL),
      "pods",
      log,
      enqueue,
      false,
    ),
    watchWithRestart(
      makeInformer(kubeConfig, `/apis/apps/v1${scope}/statefulsets`, listStatefulSets, CLUSTER_LABEL),
      "statefulsets",
      log,
      enqueue,
      false,
    ),
  ];
  return { stop: async () => void (await Promise.all(watches.map((w) => w.stop()))) };
}
