/**
 * An application writing to the primary: numbered keys, each remembered once Redis acknowledged it, so a
 * drill can say exactly which acknowledged keys a failover kept.
 */
import type { Redis } from "ioredis";
import { redisClient } from "../../lib/observe.ts";

export interface WriteLoad {
  /** Keys Redis acknowledged (OK), in order. */
  readonly acknowledged: readonly string[];
  /** Writes that failed (connection lost, READONLY…): the application saw an error for each. */
  readonly failures: number;
  stop(): Promise<void>;
}

export interface WriteLoadOptions {
  readonly host: string;
  readonly port?: number;
  readonly password: string;
  readonly prefix: string;
  /** Keys written per round trip (a pipeline); default 20. */
  readonly batch?: number;
  /** Bytes of each value; default 64. */
  readonly valueBytes?: number;
  /** Pause between batches in ms; default 10. */
  readonly pauseMs?: number;
}

export function startWriteLoad(options: WriteLoadOptions): WriteLoad {
  const acknowledged: string[] = [];
  let failures = 0;
  let running = true;
  const value = "v".repeat(options.valueBytes ?? 64);
  const batch = options.batch ?? 20;
  let client: Redis = redisClient(options.host, options.port ?? 6379, options.password);
  const loop = (async () => {
    let n = 0;
    while (running) {
      const keys = Array.from({ length: batch }, () => `${options.prefix}:${n++}`);
      try {
        const pipeline = client.pipeline();
        for (const key of keys) pipeline.set(key, value);
        const results = (await pipeline.exec()) ?? [];
        results.forEach(([error], i) => {
          const key = keys[i];
          if (error === null && key !== undefined) acknowledged.push(key);
          else failures++;
        });
      } catch {
        failures += keys.length;
        client.disconnect();
        client = redisClient(options.host, options.port ?? 6379, options.password);
      }
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 10));
    }
  })();
  return {
    acknowledged,
    get failures() {
      return failures;
    },
    async stop() {
      running = false;
      await loop;
      client.disconnect();
    },
  };
}
