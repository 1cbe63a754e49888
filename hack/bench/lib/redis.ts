/**
 * Real redis-server processes and small client helpers for the benchmarks. The password goes into a
 * config file readable only by us (never on a command line).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly password: string;
  client(): Redis;
  stop(): Promise<void>;
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined/false. */
export async function poll<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 60_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await sleep(intervalMs);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function redisClient(host: string, port: number, password: string): Redis {
  const client = new Redis({
    host,
    port,
    password,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    enableReadyCheck: false,
    connectTimeout: 2_000,
  });
  client.on("error", () => undefined);
  return client;
}

/** One field of an INFO section (`master_link_status`, `sync_full` …). */
export const infoField = (text: string, field: string): string | undefined =>
  new RegExp(`^${field}:(.*)$`, "m").exec(text)?.[1]?.trim();

/** Starts a redis-server on host:port (no persistence, diskless sync without delay) and waits for PING. */
export async function startRedisServer(host: string, port: number, password: string): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "redis-dr-bench-redis-"));
  const config = join(dir, "redis.conf");
  writeFileSync(
    config,
    [
      `bind ${host}`,
      `port ${port}`,
      `dir ${dir}`,
      "save ''",
      "appendonly no",
      "repl-diskless-sync yes",
      "repl-diskless-sync-delay 0",
      `requirepass "${password}"`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const child: ChildProcess = spawn("redis-server", [config], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const client = () => redisClient(host, port, password);
  await poll(`redis-server on ${host}:${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`redis-server on ${host}:${port} exited`);
    const probe = client();
    try {
      return (await probe.ping()) === "PONG";
    } finally {
      probe.disconnect();
    }
  });
  return {
    host,
    port,
    password,
    client,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A steady write load on `server`: `perTick` SETs (pipelined) every `tickMs`, keys `<prefix>:<n>`, so the
 * rate stays fixed whatever the machine does. `stop()` resolves with the number of keys written.
 */
export function startWriteLoad(
  server: RedisServer,
  prefix: string,
  {
    perTick = 20,
    tickMs = 10,
    valueBytes = 64,
  }: { perTick?: number; tickMs?: number; valueBytes?: number } = {},
): { stop(): Promise<number>; readonly written: () => number } {
  const client = server.client();
  const value = "v".repeat(valueBytes);
  let written = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const next = Date.now() + tickMs;
      const pipeline = client.pipeline();
      for (let i = 0; i < perTick; i++) pipeline.set(`${prefix}:${written + i}`, value);
      await pipeline.exec();
      written += perTick;
      await sleep(Math.max(0, next - Date.now()));
    }
  })();
  return {
    written: () => written,
    async stop() {
      stopped = true;
      await loop;
      client.disconnect();
      return written;
    },
  };
}
