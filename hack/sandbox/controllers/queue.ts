/**
 * A keyed work queue like client-go's: a key added while it is being processed is processed again
 * afterwards, never concurrently; failures are retried with a short backoff.
 */
import type { Logger } from "pino";

export class KeyedQueue {
  private readonly pending = new Set<string>();
  private readonly running = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly work: (key: string) => Promise<void>,
    private readonly logger: Logger,
    private readonly retryMs = 200,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    this.pending.add(key);
    if (!this.running.has(key)) this.schedule(key, 0);
  }

  private schedule(key: string, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.process(key);
    }, delayMs);
    this.timers.add(timer);
  }

  private async process(key: string): Promise<void> {
    if (this.stopped || this.running.has(key) || !this.pending.has(key)) return;
    this.pending.delete(key);
    this.running.add(key);
    let failed = false;
    const run = this.work(key).catch((error: unknown) => {
      failed = true;
      this.logger.debug({ err: error, key }, "reconcile failed; retrying");
    });
    this.inFlight.add(run);
    await run;
    this.inFlight.delete(run);
    this.running.delete(key);
    if (this.stopped) return;
    if (failed) {
      this.pending.add(key);
      this.schedule(key, this.retryMs);
    } else if (this.pending.has(key)) {
      this.schedule(key, 0);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.all([...this.inFlight]);
  }
}
