/**
 * The cluster API wrapper: the only place the controller talks to the Kubernetes API. Narrow on purpose —
 * what the reconcile steps need, with responses checked where they enter.
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  PolicyV1Api,
  V1MicroTime,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type {
  KubeConfig,
  KubernetesObject,
  V1Pod,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
  V1StatefulSet,
} from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { GROUP, KIND, API_VERSION, PLURAL, VERSION } from "../../schemas/rediscluster.ts";
import type { RedisCluster, RedisClusterStatus } from "../../schemas/generated/rediscluster.ts";
import { secretText } from "../redis/users.ts";
import type { CachedObjects, OwnedMetadata } from "./cached-objects.ts";
import { SeenVersions } from "./cached-objects.ts";
import type { StatusTransaction } from "../status/transaction.ts";
import { jsonEqual, mergePatch } from "../status/transaction.ts";
import { CLUSTER_LABEL } from "./resources.ts";

/** The HTTP status of a failed API call, when there is one. */
export function apiErrorCode(error: unknown): number | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "number") return code;
  }
  return undefined;
}

/**
 * A status write found the RedisCluster at a newer generation than the copy its pass decided on (patchStatus):
 * nothing was written, and the pass ends so the next one starts from the new spec.
 */
export class SpecChangedError extends Error {
  constructor(namespace: string, name: string, decidedOn: number, now: number | undefined) {
    super(
      `${namespace}/${name}: the spec changed (generation ${decidedOn} → ${now ?? "none"}) during the pass`,
    );
    this.name = "SpecChangedError";
  }
}

export function isRedisCluster(value: unknown): value is RedisCluster {
  if (typeof value !== "object" || value === null) return false;
  const object = value as { kind?: unknown; spec?: unknown; metadata?: unknown };
  return typeof object.spec === "object" && object.spec !== null && typeof object.metadata === "object";
}

const mergePatchOptions = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const jsonPatchOptions = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

export type SecretLookup =
  { readonly kind: "found"; readonly value: string } | { readonly kind: "missing"; readonly reason: string };

export interface ClusterApiOptions {
  /**
   * Read RedisClusters and the objects they own from these caches (the informers'), not the API server.
   * Without them (tests of this class) every read goes to the API server.
   */
  readonly cache?: CachedObjects;
  /** A Secret read is used again for this long (0: read on every call). */
  readonly secretRefreshMs?: number;
  readonly now?: () => number;
  /** Says, at debug, when a cache was behind and an object was read afresh. */
  readonly log?: Logger;
}

/** A Secret as last read. */
interface SecretMemo {
  readonly secret: V1Secret;
  readonly readAt: number;
}

export class ClusterApi {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly policy: PolicyV1Api;
  private readonly cache: CachedObjects | undefined;
  private readonly seen = new SeenVersions();
  private readonly secrets = new Map<string, SecretMemo>();
  /** Secret reads on their way to the API server, by `namespace/name`. */
  private readonly secretReads = new Map<string, Promise<V1Secret | undefined>>();
  private readonly secretRefreshMs: number;
  private readonly now: () => number;
  private readonly log: Logger | undefined;

  constructor(
    kubeConfig: KubeConfig,
    private readonly component = "redis-dr-controller",
    options: ClusterApiOptions = {},
  ) {
    this.cache = options.cache;
    this.secretRefreshMs = options.secretRefreshMs ?? 0;
    this.now = options.now ?? Date.now;
    this.log = options.log;
    // It is each Event's reportingComponent: not a qualified name, and the API server would refuse every
    // Event, which the reconcile only logs.
    if (!isQualifiedName(component)) {
      throw new Error(`component ${JSON.stringify(component)} is not a qualified name`);
    }
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.policy = kubeConfig.makeApiClient(PolicyV1Api);
  }

  /**
   * The RedisCluster from the cache; read afresh while the cache has not caught up with the controller's
   * own last status write (SeenVersions). A copy: the reconcile may replace its status.
   */
  async getCluster(namespace: string, name: string): Promise<RedisCluster | undefined> {
    if (this.cache === undefined) return this.readCluster(namespace, name);
    const key = `redisclusters/${namespace}/${name}`;
    const cached = this.cache.cluster(namespace, name);
    if (this.seen.current(key, cached)) return cached === undefined ? undefined : structuredClone(cached);
    this.behind(key, cached);
    const fresh = await this.readCluster(namespace, name);
    this.seen.saw(key, fresh);
    return fresh;
  }

  /**
   * An informer's cache now holds `object` of `resource` (its add and update callbacks call this): a write
   * of the controller's that the cache shows no longer makes the object be read afresh (SeenVersions).
   */
  cacheShows(resource: string, object: KubernetesObject): void {
    const namespace = object.metadata?.namespace;
    const name = object.metadata?.name;
    if (namespace !== undefined && name !== undefined)
      this.seen.cached(`${resource}/${namespace}/${name}`, object);
  }

  /** The RedisCluster as the API server has it now. */
  async readCluster(namespace: string, name: string): Promise<RedisCluster | undefined> {
    try {
      const object: unknown = await this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
      });
      if (!isRedisCluster(object)) throw new Error(`${namespace}/${name} is not a RedisCluster`);
      return object;
    } catch (error) {
      if (apiErrorCode(error) === 404) return undefined;
      throw error;
    }
  }

  /**
   * Applies a status transaction: reads the object, applies the transaction to its status, and writes the
   * difference as a merge patch on /status guarded by resourceVersion. A 409 (someone else wrote meanwhile)
   * re-reads and re-applies; a transaction that changes nothing writes nothing.
   *
   * `known` is the copy the caller decided on (a reconcile's). When the re-read after a 409 shows a new
   * generation — the spec changed, e.g. a promotion was requested while this pass was running — nothing is
   * written and SpecChangedError is thrown: the pass was deciding for a spec that is no longer the one asked
   * for, and the reconciler starts the next pass at once instead of finishing this one. Stopping there is
   * what a crash before the write would do, which every step is made to survive.
   */
  async patchStatus(
    namespace: string,
    name: string,
    transaction: StatusTransaction,
    known?: RedisCluster,
  ): Promise<RedisCluster | undefined> {
    const decidedOn = known?.metadata?.generation;
    let current = known;
    for (let attempt = 0; attempt < 8; attempt++) {
      if (current === undefined) {
        // A conflict means the copy in hand is old: the retry starts from the API server's, not the cache's.
        current = await this.readCluster(namespace, name);
        if (current === undefined) return undefined;
        const generation = current.metadata?.generation;
        if (decidedOn !== undefined && generation !== decidedOn) {
          throw new SpecChangedError(namespace, name, decidedOn, generation);
        }
      }
      const before: RedisClusterStatus = current.status ?? {};
      const after = transaction(structuredClone(before));
      if (jsonEqual(before, after)) return current;
      try {
        const patched: unknown = await this.custom.patchNamespacedCustomObjectStatus(
          {
            group: GROUP,
            version: VERSION,
            namespace,
            plural: PLURAL,
            name,
            body: {
              metadata: { resourceVersion: current.metadata?.resourceVersion },
              status: current.status === undefined ? after : mergePatch(before, after),
            },
          },
          mergePatchOptions,
        );
        if (!isRedisCluster(patched)) throw new Error("status patch answered with something else");
        this.seen.saw(`redisclusters/${namespace}/${name}`, patched, this.cache?.cluster(namespace, name));
        return patched;
      } catch (error) {
        if (apiErrorCode(error) !== 409) throw error;
        current = undefined;
      }
    }
    throw new Error(`status of ${namespace}/${name}: too many conflicting writes`);
  }

  /** The `password` key of a Secret; never logged by this class or its callers. */
  secretPassword(namespace: string, name: string): Promise<SecretLookup> {
    return this.secretValue(namespace, name, "password");
  }

  /**
   * One key of a Secret, decoded, less one trailing newline (secretText: the pods' entrypoint reads the
   * mounted file by the same rule). A value that is empty then counts as missing, as for the pods.
   */
  async secretValue(namespace: string, name: string, key: string): Promise<SecretLookup> {
    const secret = await this.getSecret(namespace, name);
    if (secret === undefined) return { kind: "missing", reason: `Secret ${name} not found` };
    const encoded = secret.data?.[key];
    if (encoded === undefined) return { kind: "missing", reason: `Secret ${name} has no key "${key}"` };
    const value = secretText(Buffer.from(encoded, "base64").toString("utf8"));
    if (value === "") return { kind: "missing", reason: `Secret ${name} has an empty "${key}"` };
    return { kind: "found", value };
  }

  /**
   * A whole Secret, or undefined when there is none. Secrets are read by name (no list or watch: the
   * controller never sees the other Secrets of a namespace), and a read is used again for secretRefreshMs;
   * a missing Secret is asked for again on every call, so it is found as soon as it is created.
   */
  async getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    const key = `${namespace}/${name}`;
    const memo = this.secrets.get(key);
    if (memo !== undefined && this.now() - memo.readAt < this.secretRefreshMs) return memo.secret;
    // One read per Secret at a time: callers that ask while a read is on its way (the reconciles of the
    // clusters sharing an authSecret; ca.crt and tls.crt of one tlsSecret) take its answer, sent at most one
    // round trip before they asked.
    const reading = this.secretReads.get(key);
    if (reading !== undefined) return reading;
    const read = this.readSecret(namespace, name).finally(() => this.secretReads.delete(key));
    this.secretReads.set(key, read);
    return read;
  }

  private async readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    const key = `${namespace}/${name}`;
    const readAt = this.now();
    try {
      const secret = await this.core.readNamespacedSecret({ name, namespace });
      this.secrets.set(key, { secret, readAt });
      return secret;
    } catch (error) {
      if (apiErrorCode(error) !== 404) throw error;
      this.secrets.delete(key);
      return undefined;
    }
  }

  /** The next read of these Secrets goes to the API server, whatever their age. */
  forgetSecrets(namespace: string, names: readonly string[]): void {
    for (const name of names) this.secrets.delete(`${namespace}/${name}`);
  }

  async createSecret(namespace: string, body: V1Secret): Promise<void> {
    const created = await this.core.createNamespacedSecret({ namespace, body });
    this.secrets.set(`${namespace}/${body.metadata?.name ?? ""}`, { secret: created, readAt: this.now() });
  }

  /**
   * The pods labelled `redis.io/cluster=<cluster>`: from the cache, or listed afresh while the cache has not
   * caught up with a label the controller wrote.
   */
  async listPods(namespace: string, cluster: string): Promise<V1Pod[]> {
    if (this.cache !== undefined) {
      const cached = this.cache.pods(namespace, cluster);
      const keyOf = (pod: V1Pod) => `pods/${namespace}/${pod.metadata?.name ?? ""}`;
      if (cached.every((pod) => this.seen.current(keyOf(pod), pod))) return cached;
      this.behind(`pods/${namespace}/${cluster}`, undefined);
      const fresh = await this.listPodsNow(namespace, cluster);
      for (const pod of fresh) this.seen.saw(keyOf(pod), pod);
      return fresh;
    }
    return this.listPodsNow(namespace, cluster);
  }

  private async listPodsNow(namespace: string, cluster: string): Promise<V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace, labelSelector: `${CLUSTER_LABEL}=${cluster}` }))
      .items;
  }

  async patchPodLabels(namespace: string, name: string, labels: Record<string, string>): Promise<void> {
    const patched = await this.core.patchNamespacedPod(
      { namespace, name, body: { metadata: { labels } } },
      mergePatchOptions,
    );
    if (this.cache !== undefined) this.seen.saw(`pods/${namespace}/${name}`, patched);
  }

  private behind(key: string, cached: KubernetesObject | undefined): void {
    this.log?.debug(
      { object: key, cachedResourceVersion: cached?.metadata?.resourceVersion },
      "cache behind the controller's last write: read afresh",
    );
  }

  /**
   * The StatefulSet's metadata from the cache (see getCluster), or as the API server has it now with
   * `fresh`: the cache keeps no more (cached-objects.ts), so neither does the answer's type.
   */
  async getStatefulSet(namespace: string, name: string, fresh = false): Promise<OwnedMetadata | undefined> {
    return this.cachedOrRead<OwnedMetadata>(
      `statefulsets/${namespace}/${name}`,
      fresh ? undefined : this.cache?.statefulSet(namespace, name),
      fresh,
      () => this.apps.readNamespacedStatefulSet({ namespace, name }),
    );
  }

  /**
   * The cached copy when the cache has caught up with what the controller last wrote or read of the object;
   * otherwise (or without a cache, or when asked to be fresh) a read, 404 being undefined.
   */
  private async cachedOrRead<T extends KubernetesObject>(
    key: string,
    cached: T | undefined,
    fresh: boolean,
    read: () => Promise<T>,
  ): Promise<T | undefined> {
    if (!fresh && this.cache !== undefined && this.seen.current(key, cached)) return cached;
    if (!fresh) this.behind(key, cached);
    let object: T | undefined;
    try {
      object = await read();
    } catch (error) {
      if (apiErrorCode(error) !== 404) throw error;
    }
    if (this.cache !== undefined) this.seen.saw(key, object);
    return object;
  }

  async createStatefulSet(namespace: string, body: V1StatefulSet): Promise<void> {
    const created = await this.apps.createNamespacedStatefulSet({ namespace, body });
    const name = body.metadata?.name ?? "";
    if (this.cache !== undefined)
      this.seen.saw(`statefulsets/${namespace}/${name}`, created, this.cache.statefulSet(namespace, name));
  }

  /**
   * Replaces the fields the controller owns — replicas and the whole pod template — then writes the
   * spec-hash annotation. A JSON patch `add` replaces a member wholesale, so what the new template no longer
   * has (a nodeSelector key, a limit, an env var) goes too, where a merge patch would keep it; the fields the
   * controller does not set (updateStrategy, other annotations and labels) stay. The hash is written last:
   * an update cut short between the two calls is redone by the next reconcile.
   */
  async updateStatefulSet(namespace: string, name: string, desired: V1StatefulSet): Promise<void> {
    const spec = desired.spec;
    if (spec === undefined) throw new Error(`StatefulSet ${namespace}/${name}: no spec to apply`);
    await this.apps.patchNamespacedStatefulSet(
      {
        namespace,
        name,
        body: [
          { op: "add", path: "/spec/replicas", value: spec.replicas },
          { op: "add", path: "/spec/template", value: spec.template },
        ],
      },
      jsonPatchOptions,
    );
    const patched = await this.apps.patchNamespacedStatefulSet(
      { namespace, name, body: { metadata: { annotations: desired.metadata?.annotations } } },
      mergePatchOptions,
    );
    if (this.cache !== undefined)
      this.seen.saw(`statefulsets/${namespace}/${name}`, patched, this.cache.statefulSet(namespace, name));
  }

  /** The Service's metadata (see getStatefulSet). */
  async getService(namespace: string, name: string): Promise<OwnedMetadata | undefined> {
    return this.cachedOrRead<OwnedMetadata>(
      `services/${namespace}/${name}`,
      this.cache?.service(namespace, name),
      false,
      () => this.core.readNamespacedService({ namespace, name }),
    );
  }

  async createService(namespace: string, body: V1Service): Promise<void> {
    const created = await this.core.createNamespacedService({ namespace, body });
    const name = body.metadata?.name ?? "";
    if (this.cache !== undefined)
      this.seen.saw(`services/${namespace}/${name}`, created, this.cache.service(namespace, name));
  }

  /** The PodDisruptionBudget's metadata (see getStatefulSet). */
  async getPodDisruptionBudget(namespace: string, name: string): Promise<OwnedMetadata | undefined> {
    return this.cachedOrRead<OwnedMetadata>(
      `poddisruptionbudgets/${namespace}/${name}`,
      this.cache?.podDisruptionBudget(namespace, name),
      false,
      () => this.policy.readNamespacedPodDisruptionBudget({ namespace, name }),
    );
  }

  async createPodDisruptionBudget(namespace: string, body: V1PodDisruptionBudget): Promise<void> {
    const created = await this.policy.createNamespacedPodDisruptionBudget({ namespace, body });
    const name = body.metadata?.name ?? "";
    if (this.cache !== undefined) {
      const cachedNow = this.cache.podDisruptionBudget(namespace, name);
      this.seen.saw(`poddisruptionbudgets/${namespace}/${name}`, created, cachedNow);
    }
  }

  /**
   * A core/v1 Event about the RedisCluster. Messages never carry secrets (see the engine's messages).
   * `eventTime` makes it a new-style Event, which the API server validates with the limits of EVENT_LIMITS:
   * reason and message are cut to fit, so a long message can never make the Event fail.
   */
  async recordEvent(
    cluster: RedisCluster,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    const namespace = cluster.metadata?.namespace ?? "default";
    const name = cluster.metadata?.name ?? "";
    const now = new Date();
    const shortReason = truncateUtf8(reason, EVENT_LIMITS.reasonBytes);
    await this.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: {
          name: `${name}.${now.getTime().toString(16)}${randomBytes(3).toString("hex")}`,
          namespace,
        },
        involvedObject: {
          apiVersion: API_VERSION,
          kind: KIND,
          name,
          namespace,
          uid: cluster.metadata?.uid,
          resourceVersion: cluster.metadata?.resourceVersion,
        },
        type,
        reason: shortReason,
        message: truncateUtf8(message, EVENT_LIMITS.messageBytes),
        firstTimestamp: now,
        lastTimestamp: now,
        // A MicroTime: the API server parses exactly six fractional digits, and a Date has three.
        eventTime: new V1MicroTime(now.getTime()),
        count: 1,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: truncateUtf8(this.component, EVENT_LIMITS.reportingInstanceBytes),
        action: truncateUtf8(shortReason, EVENT_LIMITS.actionBytes),
      },
    });
  }
}

/**
 * What the API server accepts in a core/v1 Event that has `eventTime` (k8s.io/kubernetes
 * pkg/apis/core/validation/events.go, legacyValidateEvent): Go's len(), so bytes of UTF-8.
 */
const EVENT_LIMITS = {
  reasonBytes: 128,
  actionBytes: 128,
  reportingInstanceBytes: 128,
  messageBytes: 1024,
} as const;

/** A Kubernetes qualified name: an optional DNS subdomain prefix and "/", then a name of at most 63. */
function isQualifiedName(value: string): boolean {
  const slash = value.lastIndexOf("/");
  const prefix = slash < 0 ? undefined : value.slice(0, slash);
  const name = value.slice(slash + 1);
  const prefixOk =
    prefix === undefined ||
    (prefix.length <= 253 &&
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(prefix));
  return prefixOk && name.length <= 63 && /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(name);
}

/** Ends a truncated text, so a reader knows there was more (the whole message is in the log line). */
export const TRUNCATED_MARKER = "… [truncated]";

/**
 * `text` if it fits in `maxBytes` of UTF-8; otherwise its longest prefix of whole characters that fits
 * with TRUNCATED_MARKER after it.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const budget = maxBytes - Buffer.byteLength(TRUNCATED_MARKER);
  let used = 0;
  let end = 0;
  // for…of walks code points, so a surrogate pair (one 4-byte character) is never split either.
  for (const character of text) {
    used += Buffer.byteLength(character);
    if (used > budget) break;
    end += character.length;
  }
  return text.slice(0, end) + TRUNCATED_MARKER;
}
