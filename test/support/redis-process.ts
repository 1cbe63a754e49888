/**
 * Real redis-server processes for tests: each on its own loopback address, with its own temp directory,
 * stopped (and the directory removed) by the caller's `after` hook through `stop()`/`stopAll()`.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { TestCertificates } from "./tls.ts";

export interface RedisProcessOptions {
  readonly host: string;
  readonly port?: number;
  /** The user the test's clients log in as (its `user` line is in `config`); `default` when undefined. */
  readonly username?: string;
  /** Without `username`: requirepass. */
  readonly password?: string;
  /** Extra redis.conf lines. */
  readonly config?: readonly string[];
  /** Speak only TLS (also when replicating), like the controller's pods with a tlsSecret. */
  readonly tls?: TestCertificates;
}

export class RedisProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly password: string | undefined;
  readonly username: string | undefined;
  private readonly config: readonly string[];
  readonly tls: TestCertificates | undefined;

  constructor(options: RedisProcessOptions) {
    this.host = options.host;
    this.port = options.port ?? 6379;
    this.password = options.password;
    this.username = options.username;
    this.config = options.config ?? [];
    this.tls = options.tls;
    this.dir = mkdtempSync(join(tmpdir(), "redis-dr-test-"));
  }

  get endpoint(): { host: string; port: number; username?: string; password?: string; tls?: { ca: string } } {
    return {
      host: this.host,
      port: this.port,
      ...(this.username === undefined ? {} : { username: this.username }),
      ...(this.password === undefined ? {} : { password: this.password }),
      ...(this.tls === undefined ? {} : { tls: { ca: this.tls.ca } }),
    };
  }

  async start(): Promise<void> {
    const lines = [
      `bind ${this.host}`,
      ...(this.tls === undefined
        ? [`port ${this.port}`]
        : [
            "port 0",
            `tls-port ${this.port}`,
            `tls-cert-file ${this.tls.certFile}`,
            `tls-key-file ${this.tls.keyFile}`,
            `tls-ca-cert-file ${this.tls.caFile}`,
            "tls-replication yes",
            "tls-auth-clients no",
          ]),
      `dir ${this.dir}`,
      "daemonize no",
      "save ''",
      "appendonly no",
      "repl-diskless-sync yes",
      "repl-diskless-sync-delay 0",
      ...(this.password === undefined || this.username !== undefined ? [] : [`requirepass ${this.password}`]),
      ...this.config,
    ];
    const file = join(this.dir, "redis.conf");
    writeFileSync(file, lines.join("\n") + "\n");
    const child = spawn("redis-server", [file], { stdio: ["ignore", "ignore", "inherit"] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    await waitFor(`redis-server on ${this.host}:${this.port}`, async () => {
      if (child.exitCode !== null)
        throw new Error(`redis-server on ${this.host} exited with ${child.exitCode}`);
      const client = this.client();
      try {
        return (await client.ping()) === "PONG";
      } catch {
        return false;
      } finally {
        client.disconnect();
      }
    });
  }

  /** A plain client for test assertions and writes; the caller disconnects it. */
  client(login: { username?: string; password?: string } = this): Redis {
    const client = new Redis({
      host: this.host,
      port: this.port,
      username: login.username,
      password: login.password,
      ...(this.tls === undefined ? {} : { tls: { ca: [this.tls.ca], checkServerIdentity: () => undefined } }),
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
      enableReadyCheck: false,
    });
    client.on("error", () => undefined);
    return client;
  }

  /** SIGSTOP: the process hangs (a frozen node, a stalled disk) with its connections open. */
  pause(): void {
    this.child?.kill("SIGSTOP");
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.child?.kill("SIGCONT");
  }

  /** Stops the process (SIGKILL when `hard`, like a crashed pod) and keeps the data directory. */
  async kill(hard = false): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    // A paused process would only act on SIGTERM once continued.
    child.kill("SIGCONT");
    child.kill(hard ? "SIGKILL" : "SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Deletes the persisted dataset (a pod rescheduled onto an empty volume). Call while stopped. */
  wipeData(): void {
    for (const entry of readdirSync(this.dir)) {
      if (entry !== "redis.conf") rmSync(join(this.dir, entry), { recursive: true, force: true });
    }
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function stopAll(processes: readonly RedisProcess[]): Promise<void> {
  await Promise.all(processes.map((p) => p.stop()));
}

/** Polls `check` every 50 ms until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `timed out waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ""}`,
  );
}
