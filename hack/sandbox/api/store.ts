/**
 * The sandbox's etcd: objects by storage key (`apps/statefulsets`), one cluster-wide resourceVersion counter,
 * and a bounded history of changes so watches can resume from a resourceVersion — or get 410 Gone when it
 * has been compacted away, exactly the case client-node informers handle by relisting.
 */
import { clone, gone, type KubeObject } from "./types.ts";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface Change {
  readonly rv: number;
  readonly key: string;
  readonly type: WatchEventType;
  readonly object: KubeObject;
  /** The object before a MODIFIED or DELETED change. */
  readonly previous?: KubeObject;
}

export type ChangeListener = (change: Change) => void;

const objectKey = (namespace: string | undefined, name: string): string => `${namespace ?? ""}/${name}`;

export class Store {
  private rv = 100;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private history: Change[] = [];
  /** Changes older than this resourceVersion are no longer in the history. */
  private compactedRv = 100;
  private readonly listeners = new Set<ChangeListener>();

  constructor(private readonly historyLimit = 10_000) {}

  currentRv(): string {
    return String(this.rv);
  }

  get(key: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const object = this.objects.get(key)?.get(objectKey(namespace, name));
    return object ? clone(object) : undefined;
  }

  list(key: string, namespace?: string): KubeObject[] {
    const all = [...(this.objects.get(key)?.values() ?? [])];
    const inNamespace = namespace ? all.filter((o) => o.metadata.namespace === namespace) : all;
    return inNamespace
      .sort((a, b) =>
        objectKey(a.metadata.namespace, a.metadata.name ?? "").localeCompare(
          objectKey(b.metadata.namespace, b.metadata.name ?? ""),
        ),
      )
      .map(clone);
  }

  /** Every storage key that holds objects (for garbage collection and namespace deletion). */
  keys(): string[] {
    return [...this.objects.keys()];
  }

  /** Writes `object` with a fresh resourceVersion and tells the watchers. Returns the stored copy. */
  put(key: string, object: KubeObject): KubeObject {
    const bucket = this.objects.get(key) ?? new Map<string, KubeObject>();
    this.objects.set(key, bucket);
    const id = objectKey(object.metadata.namespace, object.metadata.name ?? "");
    const previous = bucket.get(id);
    const stored = clone(object);
    stored.metadata.resourceVersion = String(++this.rv);
    bucket.set(id, stored);
    this.record({
      rv: this.rv,
      key,
      type: previous ? "MODIFIED" : "ADDED",
      object: stored,
      ...(previous ? { previous } : {}),
    });
    return clone(stored);
  }

  remove(key: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const bucket = this.objects.get(key);
    const id = objectKey(namespace, name);
    const previous = bucket?.get(id);
    if (!bucket || !previous) return undefined;
    bucket.delete(id);
    // A deleted object is reported with the resourceVersion of its deletion, like etcd's delete revision.
    const deleted = clone(previous);
    deleted.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, key, type: "DELETED", object: deleted, previous });
    return clone(deleted);
  }

  private record(change: Change): void {
    this.history.push(change);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedRv = dropped.at(-1)?.rv ?? this.compactedRv;
    }
    for (const listener of this.listeners) listener(change);
  }

  /** Forgets the history, like an etcd compaction: watches from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.history = [];
    this.compactedRv = this.rv;
  }

  /**
   * Changes after `fromRv` (for a watch resuming there), then every later change until unsubscribed.
   * Throws 410 Gone when `fromRv` is older than the kept history.
   */
  subscribe(fromRv: number, listener: ChangeListener): () => void {
    if (fromRv < this.compactedRv) {
      throw gone(`too old resource version: ${fromRv} (${this.compactedRv})`);
    }
    for (const change of this.history) if (change.rv > fromRv) listener(change);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Listens to every future change (in-process controllers). */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
