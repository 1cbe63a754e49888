/**
 * What the controller reads from its informers' caches instead of the API server (watch/informers.ts fills
 * them): the RedisClusters, and the StatefulSets, Services, PodDisruptionBudgets and Pods labelled with
 * `redis.io/cluster`. Returned objects are the caches' own: never mutated by a reader.
 *
 * Of the StatefulSets, Services and PodDisruptionBudgets the caches keep only the metadata (OwnedMetadata):
 * the reconcile asks whether each exists, and of a StatefulSet which spec hash its annotation carries — a
 * whole StatefulSet (the pod template, the claim templates, the status) is several kilobytes it never reads.
 */
import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";

/**
 * An owned object as its cache keeps it: apiVersion, kind and metadata (without managedFields). The type
 * has no spec or status, so code that would read them from the cache does not compile.
 */
export type OwnedMetadata = KubernetesObject;

export interface CachedObjects {
  cluster(namespace: string, name: string): RedisCluster | undefined;
  statefulSet(namespace: string, name: string): OwnedMetadata | undefined;
  service(namespace: string, name: string): OwnedMetadata | undefined;
  podDisruptionBudget(namespace: string, name: string): OwnedMetadata | undefined;
  /** The pods labelled `redis.io/cluster=<cluster>` in the namespace. */
  pods(namespace: string, cluster: string): V1Pod[];
}

/**
 * The resourceVersion the controller last saw of the objects it wrote (its own write's answer, or a fresh
 * read): a cache still holding another version is behind (or ahead, after someone else's write), and the
 * object is read afresh instead — so the controller never acts on an older copy of what it just wrote. The
 * entry goes as soon as the cache shows that version: the informers say so as their watch delivers it
 * (`cached`), and a write whose watch event came before its answer is not remembered at all. So a change
 * made by someone else after the controller's write (a promotion requested just after a status write) is
 * read from the cache, not afresh: a watch delivers an object's versions in order, so once the cache has
 * shown the written version, any other version it holds is newer.
 */
export class SeenVersions {
  private readonly versions = new Map<string, string>();

  /** True when the cached copy can be used: nothing written since, or the cache shows the write. */
  current(key: string, cached: KubernetesObject | undefined): boolean {
    const seen = this.versions.get(key);
    if (seen === undefined) return true;
    if (cached?.metadata?.resourceVersion === seen) {
      this.versions.delete(key);
      return true;
    }
    return false;
  }

  /**
   * Remembers the version of an object just written or read afresh (undefined: it is gone), unless
   * `cachedNow`, the cache's copy at this moment, already shows it.
   */
  saw(key: string, object: KubernetesObject | undefined, cachedNow?: KubernetesObject): void {
    const version = object?.metadata?.resourceVersion;
    if (version === undefined || cachedNow?.metadata?.resourceVersion === version) this.versions.delete(key);
    else this.versions.set(key, version);
  }

  /** The cache now holds `object` (an informer's add or update): a write it shows is caught up with. */
  cached(key: string, object: KubernetesObject): void {
    const version = object.metadata?.resourceVersion;
    if (version !== undefined && this.versions.get(key) === version) this.versions.delete(key);
  }
}
