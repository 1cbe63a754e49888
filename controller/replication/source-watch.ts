/**
 * A standing connection to each replica cluster's source. Redis replicas re-connect to a source that went
 * away by themselves, within a second, and copy it in full if it came back on another history (restarted
 * empty, or replaced): the controller must hold them first (source-continuity.ts). Polling every resync
 * period would lose that race; the connection ending is seen the moment the replicas see it, and the cluster
 * is reconciled at once.
 */
import type { Logger } from "pino";
import type { RedisAdmin, RedisAdminFactory, RedisEndpoint } from "../redis/admin-port.ts";

interface Watch {
  readonly endpoint: string;
  readonly admin: RedisAdmin;
}

export class SourceWatch {
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly factory: RedisAdminFactory,
    /** Called with the cluster's key when its source's connection ends. */
    private readonly lost: (key: string) => void,
    private readonly log: Logger,
  ) {}

  /**
   * Keeps a connection to `endpoint` for the cluster `key` (undefined: none). A connection that cannot be
   * made is dropped quietly — the reconcile that asked already saw the source unreachable — and made again
   * at the next call.
   */
  watch(key: string, endpoint: RedisEndpoint | undefined): void {
    const id = endpoint === undefined ? undefined : `${endpoint.host}:${endpoint.port}`;
    const current = this.watches.get(key);
    if (current?.endpoint === id) return;
    if (current !== undefined) this.drop(key, current);
    if (endpoint === undefined || id === undefined) return;
    const admin = this.factory.connect(endpoint);
    const watch: Watch = { endpoint: id, admin };
    this.watches.set(key, watch);
    void (async () => {
      try {
        await admin.replication();
      } catch {
        if (this.watches.get(key) === watch) this.drop(key, watch);
        return;
      }
      await admin.closed?.();
      if (this.watches.get(key) !== watch) return;
      this.watches.delete(key);
      this.log.warn({ key, source: id }, "connection to the source ended: reconciling now");
      this.lost(key);
    })();
  }

  stop(): void {
    for (const [key, watch] of this.watches) this.drop(key, watch);
  }

  private drop(key: string, watch: Watch): void {
    this.watches.delete(key);
    void watch.admin.close();
  }
}
