/**
 * A standing connection to each replica cluster's source. Redis replicas re-connect to a source that went
 * away by themselves, within a second, and copy it in full if it came back on another history (restarted
 * empty, or replaced): the controller must hold them first (source-continuity.ts). Polling every resync
 * period would lose that race; the connection ending is seen the moment the replicas see it, and the cluster
 * is reconciled at once.
 */
import type { Logger } from "pino";
import {
  RedisAdminError,
  type RedisAdmin,
  type RedisAdminFactory,
  type RedisEndpoint,
} from "../redis/admin-port.ts";

interface Watch {
  readonly endpoint: string;
  readonly admin: RedisAdmin;
}

/**
 * A watch that fails as it is made wakes its cluster at most this often: a source the reconcile reaches but
 * the watch never does must not become a reconcile loop.
 */
const SETUP_WAKE_MIN_INTERVAL_MS = 1_000;

export class SourceWatch {
  private readonly watches = new Map<string, Watch>();
  /** When a failed watch last woke each cluster. */
  private readonly setupWakes = new Map<string, number>();

  constructor(
    private readonly factory: RedisAdminFactory,
    /** Called with the cluster's key when its source's connection ends. */
    private readonly lost: (key: string) => void,
    private readonly log: Logger,
  ) {}

  /**
   * Keeps a connection to `endpoint` for the cluster `key` (undefined: none). The reconcile that asks has just
   * seen the source answer; a connection that then cannot be made or ends before its first answer means the
   * source may be going away right now, so the cluster is reconciled at once, as when a standing connection
   * ends (the pass that finds the source unreachable holds the pods, and asks for no new watch). Any other
   * failure (a refused password…) drops the watch quietly; the next call makes it again.
   */
  watch(key: string, endpoint: RedisEndpoint | undefined): void {
    const id = endpoint === undefined ? undefined : `${endpoint.host}:${endpoint.port}`;
    const current = this.watches.get(key);
    if (current?.endpoint === id) return;
    if (current !== undefined) this.drop(key, current);
    if (endpoint === undefined || id === undefined) {
      this.setupWakes.delete(key);
      return;
    }
    const admin = this.factory.connect(endpoint);
    const watch: Watch = { endpoint: id, admin };
    this.watches.set(key, watch);
    void (async () => {
      try {
        await admin.replication();
      } catch (error) {
        if (this.watches.get(key) !== watch) return;
        this.drop(key, watch);
        if (error instanceof RedisAdminError && error.kind === "unreachable" && this.mayWake(key)) {
          this.log.warn({ key, source: id }, "the source stopped answering the watch: reconciling now");
          this.lost(key);
        }
        return;
      }
      await admin.closed?.();
      if (this.watches.get(key) !== watch) return;
      this.watches.delete(key);
      this.log.warn({ key, source: id }, "connection to the source ended: reconciling now");
      this.lost(key);
    })();
  }

  private mayWake(key: string): boolean {
    const now = Date.now();
    if (now - (this.setupWakes.get(key) ?? -Infinity) < SETUP_WAKE_MIN_INTERVAL_MS) return false;
    this.setupWakes.set(key, now);
    return true;
  }

  stop(): void {
    for (const [key, watch] of this.watches) this.drop(key, watch);
  }

  private drop(key: string, watch: Watch): void {
    this.watches.delete(key);
    void watch.admin.close();
  }
}
