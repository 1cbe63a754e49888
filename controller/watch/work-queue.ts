/**
 * A keyed work queue in the manner of client-go's: a key is processed by one worker at a time; adding a
 * key that is queued is a no-op (de-duplication); adding a key being processed marks it dirty so it runs
 * once more afterwards; failures back off exponentially per key; a key can be re-added after a delay.
 */
export interface WorkQueueOptions {
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

export type Worker = (key: string) => Promise<{ requeueAfterMs?: number | undefined }>;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  /** Pending delayed adds: one per key, the soonest asked for. */
  private readonly timers = new Map<string, { readonly timer: NodeJS.Timeout; readonly dueAt: number }>();
  private waiters: (() => void)[] = [];
  private shuttingDown = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.waiters.shift()?.();
  }

  /**
   * Adds the key after `ms`. Of two pending delays for one key the sooner wins, whichever was asked first:
   * the sooner run covers both (it asks for its own requeue afterwards).
   */
  addAfter(key: string, ms: number): void {
    if (ms <= 0) return this.add(key);
    const dueAt = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending !== undefined) {
      if (pending.dueAt <= dueAt) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { timer, dueAt });
  }

  /** Re-adds a failed key after an exponentially growing delay. Returns the delay. */
  addRateLimited(key: string): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (failures - 1));
    // The backoff replaces a pending requeue, even a sooner one: the failed run is the latest word on the key.
    const pending = this.timers.get(key);
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      this.timers.delete(key);
    }
    this.addAfter(key, delay);
    return delay;
  }

  /** Forgets a key's failures (after a successful run). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  get length(): number {
    return this.queue.length;
  }

  private async next(): Promise<string | undefined> {
    while (this.queue.length === 0) {
      if (this.shuttingDown) return undefined;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    this.queued.delete(key);
    this.processing.add(key);
    return key;
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  /** Runs `concurrency` workers until shutdown. Keys that throw are retried with backoff. */
  async run(
    worker: Worker,
    concurrency: number,
    onError: (key: string, error: unknown, retryInMs: number) => void,
  ): Promise<void> {
    const loop = async () => {
      for (;;) {
        const key = await this.next();
        if (key === undefined) return;
        try {
          const result = await worker(key);
          this.forget(key);
          if (result.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
        } catch (error) {
          onError(key, error, this.addRateLimited(key));
        } finally {
          this.done(key);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const wake of this.waiters.splice(0)) wake();
  }
}
