/**
 * The Redis admin port over ioredis. One short-lived connection per endpoint, no automatic reconnects and no
 * offline queue: the reconciler wants a quick, honest failure it can report, not a command parked until the
 * pod comes back.
 */
import { isIP } from "node:net";
import { TLSSocket, type ConnectionOptions } from "node:tls";
import { Redis } from "ioredis";
import type {
  InstanceSnapshot,
  RedisAdmin,
  RedisAdminFactory,
  RedisEndpoint,
  RedisFailureKind,
} from "./admin-port.ts";
import { RedisAdminError } from "./admin-port.ts";
import {
  parseKeyCount,
  parseRunId,
  parseDatasetBytes,
  parsePersistenceInfo,
  parseReplicationInfo,
  parseStatsInfo,
} from "./info.ts";
import type { ReplicationInfo } from "./info.ts";

export interface IoredisAdminOptions {
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
}

/** What kind of failure an ioredis error message describes (exported for its table test). */
export function classify(message: string): RedisFailureKind {
  if (/WRONGPASS|NOAUTH|invalid password|AUTH.*without any password/i.test(message)) return "auth";
  if (/^LOADING/.test(message)) return "loading";
  if (/does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/.test(message))
    return "tls-identity";
  if (/certificate|self[- ]signed|CERT_|unable to verify|SSL routines|wrong version number/i.test(message)) {
    return "tls";
  }
  if (
    /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ECONNRESET|EPIPE|timed out|Connection is closed|connect/i.test(
      message,
    )
  ) {
    return "unreachable";
  }
  return "command";
}

/** A Sentinel's description of an instance (a flat array: field, value, field, value …) as a map. */
function fieldMap(reply: unknown): Map<string, string> {
  const fields = new Map<string, string>();
  if (!Array.isArray(reply)) return fields;
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), String(reply[i + 1]));
  return fields;
}

/** Node's own host-name check (RFC 6125, DNS and IP subjectAltNames) when asked for; SNI only for DNS names. */
function tlsOptions(host: string, tls: NonNullable<RedisEndpoint["tls"]>): ConnectionOptions {
  if (tls.verifyHost !== true) return { ca: [tls.ca], checkServerIdentity: () => undefined };
  return { ca: [tls.ca], ...(isIP(host) === 0 ? { servername: host } : {}) };
}

export class IoredisAdmin implements RedisAdmin {
  private readonly client: Redis;
  private readonly label: string;
  private connecting: Promise<void> | undefined;
  /** ioredis reports why it closed a connection (e.g. WRONGPASS during AUTH) only as an `error` event. */
  private lastConnectionError: string | undefined;

  constructor(endpoint: RedisEndpoint, options: IoredisAdminOptions = {}) {
    this.label = `${endpoint.host}:${endpoint.port}`;
    this.client = new Redis({
      host: endpoint.host,
      port: endpoint.port,
      username: endpoint.username,
      password: endpoint.password,
      ...(endpoint.tls === undefined ? {} : { tls: tlsOptions(endpoint.host, endpoint.tls) }),
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? 2000,
      // Every admin command is quick; a hung instance must not hold a reconcile for long.
      commandTimeout: options.commandTimeoutMs ?? 2000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      // The ready check waits out LOADING; the controller would rather see LOADING and come back later.
      enableReadyCheck: false,
    });
    // ioredis emits connection errors as events too; without a listener Node treats them as fatal.
    this.client.on("error", (error: Error) => {
      this.lastConnectionError = error.message;
    });
  }

  /**
   * `withholdReply`: a refusal's text is not passed on, for commands whose reply may quote an argument that
   * holds a secret (ACL SETUSER answers "Error in ACL SETUSER modifier '<the modifier>'", and a password
   * with a space in it splits into modifiers). Connection failures say what they are either way.
   */
  private async call<T>(
    what: string,
    run: (client: Redis) => Promise<T>,
    options: { withholdReply?: boolean } = {},
  ): Promise<T> {
    try {
      this.connecting ??= this.client.connect();
      await this.connecting;
      return await run(this.client);
    } catch (error) {
      // ioredis errors carry the command's arguments (error.command.args); rebuild from the message only.
      let message = error instanceof Error ? error.message : String(error);
      if (/Connection is closed/.test(message) && this.lastConnectionError !== undefined) {
        message = this.lastConnectionError;
      }
      const kind = classify(message);
      if (options.withholdReply === true && kind === "command") {
        message = "refused (the reply is not shown: it may quote a password)";
      }
      throw new RedisAdminError(kind, this.label, `${what} on ${this.label}: ${message}`);
    }
  }

  async snapshot(): Promise<InstanceSnapshot> {
    const text = await this.call("INFO", (c) =>
      c.call("INFO", "server", "replication", "stats", "persistence", "memory", "keyspace"),
    );
    const body = String(text);
    return {
      replication: parseReplicationInfo(body),
      stats: parseStatsInfo(body),
      persistence: parsePersistenceInfo(body),
      keyCount: parseKeyCount(body),
      runId: parseRunId(body),
      datasetBytes: parseDatasetBytes(body),
    };
  }

  async replication(): Promise<ReplicationInfo> {
    const text = await this.call("INFO replication", (c) => c.info("replication"));
    return parseReplicationInfo(text);
  }

  async replicaOf(host: string, port: number): Promise<void> {
    await this.call("REPLICAOF", (c) => c.call("REPLICAOF", host, String(port)));
  }

  async replicaOfNoOne(): Promise<void> {
    await this.call("REPLICAOF NO ONE", (c) => c.call("REPLICAOF", "NO", "ONE"));
  }

  async configSet(parameter: string, value: string): Promise<void> {
    await this.call(`CONFIG SET ${parameter}`, (c) => c.call("CONFIG", "SET", parameter, value));
  }

  async configGet(parameter: string): Promise<string | undefined> {
    const reply = await this.call(`CONFIG GET ${parameter}`, (c) => c.call("CONFIG", "GET", parameter));
    if (Array.isArray(reply) && typeof reply[1] === "string") return reply[1];
    return undefined;
  }

  async aclSetUser(username: string, rules: string): Promise<void> {
    await this.call(
      `ACL SETUSER ${username}`,
      (c) => c.call("ACL", "SETUSER", username, ...rules.split(" ")),
      {
        withholdReply: true,
      },
    );
  }

  async serverCertificateFingerprint(): Promise<string | undefined> {
    await this.call("PING", (c) => c.ping());
    const stream: unknown = this.client.stream;
    if (!(stream instanceof TLSSocket)) return undefined;
    return stream.getPeerCertificate().fingerprint256;
  }

  async sentinelMaster(name: string): Promise<{ host: string; port: number } | undefined> {
    const reply = await this.call("SENTINEL GET-MASTER-ADDR-BY-NAME", (c) =>
      c.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name),
    );
    if (!Array.isArray(reply) || typeof reply[0] !== "string") return undefined;
    return { host: reply[0], port: Number(reply[1]) };
  }

  async sentinelMonitor(
    name: string,
    primary: { host: string; port: number },
    quorum: number,
    settings: Readonly<Record<string, string>>,
  ): Promise<void> {
    await this.call("SENTINEL MONITOR", (c) =>
      c.call("SENTINEL", "MONITOR", name, primary.host, String(primary.port), String(quorum)),
    );
    for (const [option, value] of Object.entries(settings)) {
      await this.call("SENTINEL SET", (c) => c.call("SENTINEL", "SET", name, option, value));
    }
  }

  async sentinelFailover(name: string): Promise<"started" | "in-progress" | false> {
    try {
      await this.call("SENTINEL FAILOVER", (c) => c.call("SENTINEL", "FAILOVER", name));
      return "started";
    } catch (error) {
      if (error instanceof RedisAdminError && /INPROG/.test(error.message)) return "in-progress";
      if (error instanceof RedisAdminError && error.kind === "command") return false;
      throw error;
    }
  }

  async sentinelRemove(name: string): Promise<void> {
    try {
      await this.call("SENTINEL REMOVE", (c) => c.call("SENTINEL", "REMOVE", name));
    } catch (error) {
      if (error instanceof RedisAdminError && /No such master/i.test(error.message)) return;
      throw error;
    }
  }

  async sentinelReplicas(name: string): Promise<Array<{ host: string; port: number }>> {
    const reply = await this.call("SENTINEL REPLICAS", (c) => c.call("SENTINEL", "REPLICAS", name));
    if (!Array.isArray(reply)) return [];
    return reply.flatMap((entry: unknown) => {
      const fields = fieldMap(entry);
      const host = fields.get("ip");
      return host === undefined ? [] : [{ host, port: Number(fields.get("port")) }];
    });
  }

  async sampleKeys(count: number): Promise<string[]> {
    const keys = new Set<string>();
    for (let i = 0; i < count * 2 && keys.size < count; i++) {
      const key = await this.call("RANDOMKEY", (c) => c.randomkey());
      if (key === null) break;
      keys.add(key);
    }
    return [...keys];
  }

  async countExisting(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return Number(await this.call("EXISTS", (c) => c.exists(...keys)));
  }

  async wait(numReplicas: number, timeoutMs: number): Promise<number> {
    const reply = await this.call("WAIT", (c) => c.call("WAIT", String(numReplicas), String(timeoutMs)));
    return Number(reply);
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }

  closed(): Promise<void> {
    if (this.client.status === "end" || this.client.status === "wait") return Promise.resolve();
    return new Promise((resolve) => this.client.once("end", () => resolve()));
  }

  async failoverTo(host: string, port: number, timeoutMs: number): Promise<void> {
    await this.call("FAILOVER TO", (c) =>
      c.call("FAILOVER", "TO", host, String(port), "TIMEOUT", String(timeoutMs)),
    );
  }

  async failoverAbort(): Promise<boolean> {
    try {
      await this.call("FAILOVER ABORT", (c) => c.call("FAILOVER", "ABORT"));
      return true;
    } catch (error) {
      if (error instanceof RedisAdminError && /No failover in progress/i.test(error.message)) return false;
      throw error;
    }
  }

  async failoverState(): Promise<string> {
    const text = await this.call("INFO replication", (c) => c.info("replication"));
    return /^master_failover_state:(\S+)/m.exec(text)?.[1] ?? "no-failover";
  }

  async clientPauseWrite(timeoutMs: number): Promise<void> {
    await this.call("CLIENT PAUSE", (c) => c.call("CLIENT", "PAUSE", String(timeoutMs), "WRITE"));
  }

  async clientUnpause(): Promise<void> {
    await this.call("CLIENT UNPAUSE", (c) => c.call("CLIENT", "UNPAUSE"));
  }

  async killMasterLink(): Promise<number> {
    return Number(await this.call("CLIENT KILL", (c) => c.call("CLIENT", "KILL", "TYPE", "master")));
  }
}

export const ioredisAdminFactory = (options: IoredisAdminOptions = {}): RedisAdminFactory => ({
  connect: (endpoint) => new IoredisAdmin(endpoint, options),
});
