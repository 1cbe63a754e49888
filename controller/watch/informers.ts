/**
 * Informers for RedisClusters and the StatefulSets, Services, PodDisruptionBudgets and Pods they own (those
 * labelled `redis.io/cluster`, so the caches hold only what the controller manages; of the StatefulSets,
 * Services and budgets only their metadata). Their caches are what the reconcile reads
 * (kube/cached-objects.ts); callbacks only enqueue the owning cluster's key: client-node does not await them,
 * and the work belongs to the queue.
 *
 * client-node informers stop on a watch error and do not restart themselves; `watchWithRestart` restarts
 * them after a backoff, so the controller recovers from API server hiccups, 410 Gone and broken
 * connections without a process restart.
 */
import { makeInformer } from "@kubernetes/client-node";
import type { Informer, KubeConfig, KubernetesObject, ObjectCache, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { GROUP, PLURAL, VERSION } from "../../schemas/rediscluster.ts";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";
import type { CachedObjects } from "../kube/cached-objects.ts";
import { isRedisCluster } from "../kube/cluster-api.ts";
import { listJson } from "../kube/list-json.ts";
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

/**
 * Drops `metadata.managedFields` (server-side apply's record of who set which field: on a real API server
 * often as large as the rest of a StatefulSet or Service) from an object the cache keeps: the controller never
 * reads it, and at 1000 clusters the caches hold ~6000 objects. client-node keeps the very object it passes to
 * the callbacks, so this callback, registered first, strips the cached copy.
 */
function dropManagedFields(object: KubernetesObject): void {
  if (object.metadata?.managedFields !== undefined) delete object.metadata.managedFields;
}

/**
 * Reduces a StatefulSet, Service or PodDisruptionBudget to what its cache keeps (OwnedMetadata,
 * kube/cached-objects.ts): apiVersion, kind and metadata without managedFields. In place, as
 * dropManagedFields, and on the listed objects before the cache takes them.
 */
export function keepMetadataOnly(object: KubernetesObject): void {
  for (const field of Object.keys(object)) {
    if (field !== "apiVersion" && field !== "kind" && field !== "metadata") {
      delete (object as Record<string, unknown>)[field];
    }
  }
  dropManagedFields(object);
}

export interface Restartable {
  /** Resolves once the informer has listed and watches: its cache holds what the API server has. */
  readonly synced: Promise<void>;
  stop(): Promise<void>;
}

function watchWithRestart<T extends KubernetesObject>(
  informer: Informer<T> & ObjectCache<T>,
  what: string,
  log: Logger,
  enqueue: (key: string) => void,
  own: boolean,
  deferStart: boolean,
  /** What the cache keeps of each object (in place): dropManagedFields, or keepMetadataOnly. */
  trim: (object: KubernetesObject) => void,
  /** Told of each object the cache takes (added or updated), with the resource's plural (`what`). */
  cached: ((resource: string, object: KubernetesObject) => void) | undefined,
): Restartable & { start(): void } {
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
  informer.on("add", trim);
  informer.on("update", trim);
  if (cached !== undefined) {
    informer.on("add", (object) => cached(what, object));
    informer.on("update", (object) => cached(what, object));
  }
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
  return keepWatching(informer, what, log, deferStart);
}

/**
 * Starts an informer and restarts it after a backoff (250 ms doubling to 30 s) whenever its watch fails:
 * client-node informers stop on a watch error and do not restart themselves.
 */
export function keepWatching<T extends KubernetesObject>(
  informer: Informer<T>,
  what: string,
  log: Logger,
  deferStart = false,
): Restartable & { start(): void } {
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let markSynced: () => void = () => undefined;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  /** The current attempt met an error (client-node's start() resolves after a failed list too). */
  let failed = false;
  informer.on("connect", () => {
    failures = 0;
  });
  // start() resolves once the list is in the cache and the watch is open (or the list failed: then the
  // error handler restarts it, and a later start() resolves it).
  const start = () => {
    failed = false;
    informer.start().then(
      () => {
        if (!failed) markSynced();
      },
      (error: unknown) => restart(error),
    );
  };
  const restart = (error: unknown) => {
    failed = true;
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
  if (!deferStart) start();
  return {
    synced,
    start,
    stop: async () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await informer.stop();
    },
  };
}

export interface Informers {
  /** Lists and starts watching (once). */
  start(): void;
  /** What the informers hold, for the reconcile to read instead of the API server. */
  readonly cache: CachedObjects;
  /** Resolves once every informer has listed: before that the caches would say "missing" wrongly. */
  readonly synced: Promise<void>;
  stop(): Promise<void>;
}

/** The informers, not listing yet: `start()` them. */
export function makeInformers(
  kubeConfig: KubeConfig,
  namespace: string | undefined,
  enqueue: (key: string) => void,
  log: Logger,
  /** Told of each object a cache takes, by resource plural (ClusterApi.cacheShows). */
  cached?: (resource: string, object: KubernetesObject) => void,
): Informers {
  const scope = namespace === undefined ? "" : `/namespaces/${namespace}`;
  /**
   * An informer of `path`, its LIST answered as plain JSON like its watch (kube/list-json.ts says why not
   * client-node's typed lists); `owned`: only objects labelled with their cluster; `trim`: applied to each
   * listed object before the cache takes it (watched ones are trimmed by watchWithRestart's callbacks).
   */
  const informer = (
    path: string,
    owned: boolean,
    keep: (object: KubernetesObject) => boolean = () => true,
    trim: (object: KubernetesObject) => void = () => undefined,
  ) => {
    const selector = owned ? CLUSTER_LABEL : undefined;
    const query = owned ? `?labelSelector=${encodeURIComponent(CLUSTER_LABEL)}` : "";
    return makeInformer(
      kubeConfig,
      path,
      async () => {
        const list = await listJson(kubeConfig, path + query);
        const items = list.items.filter(keep);
        for (const item of items) trim(item);
        return { ...list, items };
      },
      selector,
    );
  };
  // RedisClusters come from users: checked here, where they enter.
  const clusters = informer(`/apis/${GROUP}/${VERSION}${scope}/${PLURAL}`, false, isRedisCluster);
  const pods = informer(`/api/v1${scope}/pods`, true);
  // Of these three the reconcile reads only the metadata (kube/cached-objects.ts, OwnedMetadata).
  const metadataOnly = (path: string) => informer(path, true, undefined, keepMetadataOnly);
  const statefulSets = metadataOnly(`/apis/apps/v1${scope}/statefulsets`);
  const services = metadataOnly(`/api/v1${scope}/services`);
  const budgets = metadataOnly(`/apis/policy/v1${scope}/poddisruptionbudgets`);
  const watch = <T extends KubernetesObject>(
    informer: Informer<T> & ObjectCache<T>,
    what: string,
    own: boolean,
    trim: (object: KubernetesObject) => void,
  ) => watchWithRestart(informer, what, log, enqueue, own, true, trim, cached);
  const watches = [
    watch(clusters, "redisclusters", true, dropManagedFields),
    watch(pods, "pods", false, dropManagedFields),
    watch(statefulSets, "statefulsets", false, keepMetadataOnly),
    watch(services, "services", false, keepMetadataOnly),
    watch(budgets, "poddisruptionbudgets", false, keepMetadataOnly),
  ];
  // The list functions above checked what entered: the caches hold only objects of their kind.
  const cache: CachedObjects = {
    cluster: (ns, name) => clusters.get(name, ns) as RedisCluster | undefined,
    statefulSet: (ns, name) => statefulSets.get(name, ns),
    service: (ns, name) => services.get(name, ns),
    podDisruptionBudget: (ns, name) => budgets.get(name, ns),
    pods: (ns, cluster) =>
      (pods.list(ns) as V1Pod[]).filter((pod) => pod.metadata?.labels?.[CLUSTER_LABEL] === cluster),
  };
  let started = false;
  return {
    cache,
    start: () => {
      if (started) return;
      started = true;
      for (const watch of watches) watch.start();
    },
    synced: Promise.all(watches.map((w) => w.synced)).then(() => undefined),
    stop: async () => void (await Promise.all(watches.map((w) => w.stop()))),
  };
}
