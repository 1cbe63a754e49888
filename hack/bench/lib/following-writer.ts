/**
 * A steady writer that follows the primary, as an application behind a Service would: one write at a time
 * (SET of a numbered key, every tenth an INCR of a counter) at a fixed rate, recording every acknowledged
 * key and counter value and the gaps between acknowledgements. On `-READONLY` (the instance it writes to
 * became a replica) it moves to the next endpoint. Used by the switchover test and benchmark.
 */
import { Redis } from "ioredis";

export interface WriterEndpoint {
  readonly host: string;
  readonly port: number;
  readonly password?: string | undefined;
}

export interface WriterReport {
  /** Keys whose SET was answered OK, in order. */
  readonly acknowledged: readonly string[];
  /** The last counter value an INCR returned (0 when none). */
  readonly counter: number;
  readonly counterKey: string;
  /** The longest time between two acknowledged writes: the write pause the application saw. */
  readonly maxGapMs: number;
  readonly readonlyErrors: number;
  readonly otherErrors: number;
  /** Index into the endpoints of the one written to last. */
  readonly endpoint: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function startFollowingWriter(
  endpoints: readonly WriterEndpoint[],
  prefix: string,
  ratePerSecond = 1000,
): { stop(): Promise<WriterReport>; acknowledgedCount(): number } {
  const clients = endpoints.map((endpoint) => {
    const client = new Redis({
      host: endpoint.host,
      port: endpoint.port,
      password: endpoint.password,
      maxRetriesPerRequest: 1,
      enableReadyCheck: false,
      connectTimeout: 2000,
    });
    client.on("error", () => undefined);
    return client;
  });
  const acknowledged: string[] = [];
  const counterKey = `${prefix}:counter`;
  let counter = 0;
  let current = 0;
  let readonlyErrors = 0;
  let otherErrors = 0;
  let maxGapMs = 0;
  let running = true;
  const loop = (async () => {
    const started = performance.now();
    let lastAck = started;
    let attempts = 0;
    while (running) {
      // Fixed rate whatever the answers' latency, so the load does not change with the machine's noise.
      if (attempts >= ((performance.now() - started) * ratePerSecond) / 1000) {
        await sleep(1);
        continue;
      }
      attempts++;
      const client = clients[current] as Redis;
      const n = acknowledged.length;
      try {
        if (n % 10 === 9) {
          counter = await client.incr(counterKey);
        }
        const key = `${prefix}:${n}`;
        await client.set(key, String(n));
        acknowledged.push(key);
        const now = performance.now();
        maxGapMs = Math.max(maxGapMs, now - lastAck);
        lastAck = now;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (/^READONLY/.test(message)) readonlyErrors++;
        else otherErrors++;
        current = (current + 1) % clients.length;
      }
    }
  })();
  return {
    acknowledgedCount: () => acknowledged.length,
    async stop() {
      running = false;
      await loop;
      for (const client of clients) client.disconnect();
      return { acknowledged, counter, counterKey, maxGapMs, readonlyErrors, otherErrors, endpoint: current };
    },
  };
}
