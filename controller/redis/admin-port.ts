/**
 * The narrow interface through which the controller administers Redis instances (pods and the source).
 * Everything the replication engine does to Redis goes through here, so its logic can be driven against real
 * redis-server processes in tests and the adapter (ioredis-admin.ts) stays the only place that speaks RESP.
 */
import type { PersistenceInfo, ReplicationInfo, StatsInfo } from "./info.ts";

export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
  /** AUTH user name; the `default` user when undefined. */
  readonly username?: string | undefined;
  /** AUTH password; never logged, never put in an error message. */
  readonly password?: string | undefined;
  /**
   * Speak TLS, verifying the server's certificate chain against this CA (PEM). With `verifyHost`, the
   * certificate must also name `host` (a DNS or IP subjectAltName), as for a source. Without it (the pods,
   * reached at their IPs, which certificates issued for Service names do not list) the name is not checked.
   */
  readonly tls?: { readonly ca: string; readonly verifyHost?: boolean } | undefined;
}

/** One round trip's worth of what an instance says about itself. */
export interface InstanceSnapshot {
  readonly replication: ReplicationInfo;
  readonly stats: StatsInfo;
  readonly persistence: PersistenceInfo;
  readonly keyCount: number;
  /** The process' run_id: a confirmation about "this" instance names it, and a restart changes it. */
  readonly runId?: string | undefined;
  /** used_memory_dataset: what a copy of the whole dataset is worth, when no offset can say it. */
  readonly datasetBytes?: number | undefined;
}

export interface RedisAdmin {
  snapshot(): Promise<InstanceSnapshot>;
  replication(): Promise<ReplicationInfo>;
  /** REPLICAOF host port. Redis answers OK without resyncing when it already follows that primary. */
  replicaOf(host: string, port: number): Promise<void>;
  /** REPLICAOF NO ONE: the instance starts a new history and accepts writes. */
  replicaOfNoOne(): Promise<void>;
  configSet(parameter: string, value: string): Promise<void>;
  configGet(parameter: string): Promise<string | undefined>;
  /** ACL SETUSER username ...rules (a rule `>password` is sent over the connection, never logged). */
  aclSetUser(username: string, rules: string): Promise<void>;
  /** SHA-256 fingerprint of the certificate the instance presents (TLS connections only). */
  serverCertificateFingerprint(): Promise<string | undefined>;
  /** On a Sentinel: SENTINEL GET-MASTER-ADDR-BY-NAME; undefined when it does not know the name. */
  sentinelMaster(name: string): Promise<{ host: string; port: number } | undefined>;
  /**
   * On a Sentinel: SENTINEL MONITOR name host port quorum, then SENTINEL SET name for each setting (e.g.
   * auth-pass: sent over the connection, never logged, never in an error message).
   */
  sentinelMonitor(
    name: string,
    primary: { host: string; port: number },
    quorum: number,
    settings: Readonly<Record<string, string>>,
  ): Promise<void>;
  /** On a Sentinel: SENTINEL FAILOVER name; `false` when this Sentinel cannot start one. */
  sentinelFailover(name: string): Promise<"started" | "in-progress" | false>;
  /** On a Sentinel: SENTINEL REMOVE name (nothing when it does not monitor that name). */
  sentinelRemove(name: string): Promise<void>;
  /**
   * On a Sentinel: the replicas it knows for `name` (SENTINEL REPLICAS), which it learns only from the
   * primary's INFO (on connecting, then every 10 s).
   */
  sentinelReplicas(name: string): Promise<Array<{ host: string; port: number }>>;
  /** Up to `count` distinct keys picked at random (RANDOMKEY): a sample of what the instance holds. */
  sampleKeys(count: number): Promise<string[]>;
  /** How many of `keys` the instance holds (EXISTS). */
  countExisting(keys: readonly string[]): Promise<number>;
  /** WAIT numReplicas timeout: how many replicas acknowledged the writes so far. */
  wait(numReplicas: number, timeoutMs: number): Promise<number>;
  close(): Promise<void>;
  /**
   * Resolves when a connection that was established ends (the instance died, restarted or dropped us), or
   * at once if none was: how the controller learns of a source going away the moment its replicas do.
   */
  closed?(): Promise<void>;
  /**
   * FAILOVER TO host port TIMEOUT ms (never FORCE): Redis pauses writes, waits for that replica — named as
   * its INFO replication lists it — to reach its offset, then hands the primary role over, or aborts at the
   * timeout. Answers at once; progress is `failoverState()`.
   */
  failoverTo(host: string, port: number, timeoutMs: number): Promise<void>;
  /** FAILOVER ABORT; `false` when no failover was in progress. */
  failoverAbort(): Promise<boolean>;
  /** `master_failover_state` of INFO replication: no-failover, waiting-for-sync, failover-in-progress. */
  failoverState(): Promise<string>;
  /** CLIENT PAUSE ms WRITE: write commands are held (not failed) until CLIENT UNPAUSE or the timeout. */
  clientPauseWrite(timeoutMs: number): Promise<void>;
  clientUnpause(): Promise<void>;
  /** CLIENT KILL TYPE master: a replica reconnects (partial resync) and announces itself anew. */
  killMasterLink(): Promise<number>;
}

export interface RedisAdminFactory {
  connect(endpoint: RedisEndpoint): RedisAdmin;
}

/** Why a Redis call failed, in terms a status message can use. */
/** `tls`: the TLS handshake failed (a certificate not signed by the CA we trust, expired, …). */
/** `tls-identity`: the certificate is valid but does not name the host that was dialled. */
export type RedisFailureKind = "unreachable" | "auth" | "loading" | "tls" | "tls-identity" | "command";

/**
 * A failed Redis call. Its message names the command (never its arguments: `CONFIG SET masterauth <secret>`
 * must not reach a log) and what Redis or the network said.
 */
export class RedisAdminError extends Error {
  override readonly name = "RedisAdminError";
  constructor(
    readonly kind: RedisFailureKind,
    readonly endpoint: string,
    message: string,
  ) {
    super(message);
  }
}
