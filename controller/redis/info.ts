/**
 * Parsing of the text Redis answers to `INFO`: `# Section` headers and `field:value` lines.
 *
 * The parser is total: unknown fields are kept as strings, missing numeric fields read as undefined, so a
 * newer or older Redis never makes the controller throw while reading what a pod says about itself.
 */

export type InfoSections = ReadonlyMap<string, ReadonlyMap<string, string>>;

/** Splits INFO text into sections (lower-cased names) of raw field values. */
export function parseInfo(text: string): InfoSections {
  const sections = new Map<string, Map<string, string>>();
  let current = new Map<string, string>();
  sections.set("", current);
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trimEnd();
    if (line === "") continue;
    if (line.startsWith("#")) {
      current = new Map<string, string>();
      sections.set(line.slice(1).trim().toLowerCase(), current);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    current.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return sections;
}

/** A replica as its primary lists it (`slaveN:ip=…,port=…,state=…,offset=…,lag=…`). */
export interface ConnectedReplica {
  readonly ip: string;
  readonly port: number;
  readonly state: string;
  readonly offset: number;
  readonly lag: number;
}

/** What `INFO replication` says, typed. Offsets are bytes of the replication stream. */
export interface ReplicationInfo {
  readonly role: "master" | "slave";
  readonly masterReplid: string;
  readonly masterReplid2: string;
  readonly masterReplOffset: number;
  /** -1 when the instance never switched history. */
  readonly secondReplOffset: number;
  readonly connectedSlaves: number;
  readonly replicas: readonly ConnectedReplica[];
  /** repl_backlog_size: how many bytes of its stream a primary keeps for partial resyncs (absent if unsaid). */
  readonly replBacklogSize?: number;
  /** Only for `role: slave`. */
  readonly master?: {
    readonly host: string;
    readonly port: number;
    readonly linkStatus: "up" | "down";
    readonly syncInProgress: boolean;
    /** -1 when the link never was up since the last REPLICAOF. */
    readonly lastIoSecondsAgo: number;
    /** -1 while the link is up or when it never was up. */
    readonly linkDownSinceSeconds: number;
    readonly slaveReplOffset: number;
  };
}

export interface StatsInfo {
  /** Full resynchronisations this instance served as a primary. */
  readonly syncFull: number;
  readonly syncPartialOk: number;
  readonly syncPartialErr: number;
}

export interface PersistenceInfo {
  readonly loading: boolean;
  readonly aofEnabled: boolean;
}

function num(fields: ReadonlyMap<string, string> | undefined, key: string, fallback = 0): number {
  const raw = fields?.get(key);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  return Number.isFinite(value) ? value : fallback;
}

function str(fields: ReadonlyMap<string, string> | undefined, key: string): string {
  return fields?.get(key) ?? "";
}

/** `ip=127.0.0.1,port=6380,state=online,offset=42,lag=0` → a ConnectedReplica. */
function parseReplicaLine(value: string): ConnectedReplica {
  const parts = new Map(
    value.split(",").map((pair) => {
      const eq = pair.indexOf("=");
      return [pair.slice(0, eq), pair.slice(eq + 1)] as const;
    }),
  );
  return {
    ip: parts.get("ip") ?? "",
    port: Number(parts.get("port") ?? 0),
    state: parts.get("state") ?? "",
    offset: Number(parts.get("offset") ?? 0),
    lag: Number(parts.get("lag") ?? 0),
  };
}

export function parseReplicationInfo(text: string): ReplicationInfo {
  const fields = parseInfo(text).get("replication");
  if (fields === undefined || !fields.has("role")) {
    throw new Error("INFO replication answer has no role field");
  }
  const role = str(fields, "role") === "slave" ? "slave" : "master";
  const replicas: ConnectedReplica[] = [];
  for (const [key, value] of fields) {
    if (/^slave\d+$/.test(key)) replicas.push(parseReplicaLine(value));
  }
  const info: ReplicationInfo = {
    role,
    masterReplid: str(fields, "master_replid"),
    masterReplid2: str(fields, "master_replid2"),
    masterReplOffset: num(fields, "master_repl_offset"),
    secondReplOffset: num(fields, "second_repl_offset", -1),
    connectedSlaves: num(fields, "connected_slaves"),
    replicas,
    ...(fields.has("repl_backlog_size") ? { replBacklogSize: num(fields, "repl_backlog_size") } : {}),
  };
  if (role === "master") return info;
  return {
    ...info,
    master: {
      host: str(fields, "master_host"),
      port: num(fields, "master_port"),
      linkStatus: str(fields, "master_link_status") === "up" ? "up" : "down",
      syncInProgress: str(fields, "master_sync_in_progress") === "1",
      lastIoSecondsAgo: num(fields, "master_last_io_seconds_ago", -1),
      linkDownSinceSeconds: num(fields, "master_link_down_since_seconds", -1),
      slaveReplOffset: num(fields, "slave_repl_offset"),
    },
  };
}

export function parseStatsInfo(text: string): StatsInfo {
  const fields = parseInfo(text).get("stats");
  return {
    syncFull: num(fields, "sync_full"),
    syncPartialOk: num(fields, "sync_partial_ok"),
    syncPartialErr: num(fields, "sync_partial_err"),
  };
}

export function parsePersistenceInfo(text: string): PersistenceInfo {
  const fields = parseInfo(text).get("persistence");
  return { loading: str(fields, "loading") === "1", aofEnabled: str(fields, "aof_enabled") === "1" };
}

/** INFO memory's used_memory_dataset: the size of the dataset in memory (absent without that section). */
export function parseDatasetBytes(text: string): number | undefined {
  const fields = parseInfo(text).get("memory");
  return fields?.has("used_memory_dataset") === true ? num(fields, "used_memory_dataset") : undefined;
}

/** INFO server's run_id: changes whenever the process restarts (absent from a reply without that section). */
export function parseRunId(text: string): string | undefined {
  return str(parseInfo(text).get("server"), "run_id") || undefined;
}

/** Total keys over every database of `INFO keyspace` (`db0:keys=3,expires=0,avg_ttl=0`). */
export function parseKeyCount(text: string): number {
  const fields = parseInfo(text).get("keyspace");
  let total = 0;
  for (const [key, value] of fields ?? []) {
    if (!/^db\d+$/.test(key)) continue;
    const match = /(?:^|,)keys=(\d+)/.exec(value);
    if (match?.[1] !== undefined) total += Number(match[1]);
  }
  return total;
}
