/** A real redis-sentinel for tests, on a pod's address (port 26379, like the sidecar), with a temp dir. */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { ADMIN_USER, SENTINEL_USER } from "../../controller/redis/users.ts";
import { sentinelUserLines } from "../../controller/kube/resources/sentinel-config.ts";
import { CLUSTER_PASSWORD, CLUSTER_USERS } from "./dr-harness.ts";
import { waitFor } from "./redis-process.ts";

/** How the tests' helpers log in to a Sentinel: as the controller does. */
export const SENTINEL_ADMIN = { username: ADMIN_USER, password: CLUSTER_USERS.admin };

export class SentinelProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly dir = mkdtempSync(join(tmpdir(), "redis-dr-sentinel-"));

  constructor(
    readonly host: string,
    private readonly monitor: {
      name: string;
      host: string;
      quorum: number;
      /** false: the Sentinel starts monitoring nothing (the controller hands the cluster over later). */
      atBoot?: boolean;
    },
  ) {}

  async start(): Promise<void> {
    const { name, host, quorum, atBoot = true } = this.monitor;
    const monitorLines = [
      `sentinel monitor ${name} ${host} 6379 ${quorum}`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 3000`,
      `sentinel parallel-syncs ${name} 1`,
      // As the controller sets it (replication/sentinel.ts): the pods' Sentinel user.
      `sentinel auth-user ${name} ${SENTINEL_USER}`,
      `sentinel auth-pass ${name} ${CLUSTER_USERS.sentinel}`,
    ];
    const file = join(this.dir, "sentinel.conf");
    writeFileSync(
      file,
      [
        `bind ${this.host}`,
        "port 26379",
        `dir ${this.dir}`,
        // Loopback connections leave from 127.0.0.1: announce the address the other Sentinels can reach.
        `sentinel announce-ip ${this.host}`,
        // The sidecar's users, from its own configuration (kube/resources/sentinel-config.ts).
        ...sentinelUserLines({
          application: `>${CLUSTER_PASSWORD}`,
          admin: `>${CLUSTER_USERS.admin}`,
          sentinel: `>${CLUSTER_USERS.sentinel}`,
          sentinelAuth: CLUSTER_USERS.sentinel,
        }),
        ...(atBoot ? monitorLines : []),
        "",
      ].join("\n"),
    );
    const child = spawn("redis-sentinel", [file], { stdio: "ignore" });
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    await waitFor(`sentinel on ${this.host}`, async () => {
      const client = new Redis({
        host: this.host,
        port: 26379,
        ...SENTINEL_ADMIN,
        lazyConnect: false,
        retryStrategy: () => null,
      });
      client.on("error", () => undefined);
      try {
        return (await client.ping()) === "PONG";
      } catch {
        return false;
      } finally {
        client.disconnect();
      }
    });
  }

  /** One SENTINEL subcommand on a short-lived connection. */
  private async sentinel(...args: string[]): Promise<unknown> {
    const client = new Redis({ host: this.host, port: 26379, ...SENTINEL_ADMIN, retryStrategy: () => null });
    client.on("error", () => undefined);
    try {
      return await client.call("SENTINEL", ...args);
    } finally {
      client.disconnect();
    }
  }

  /** A field of SENTINEL MASTER for the monitored name. */
  private async masterField(name: string): Promise<string | undefined> {
    const fields = (await this.sentinel("MASTER", this.monitor.name)) as string[];
    const index = fields.indexOf(name);
    return index === -1 ? undefined : fields[index + 1];
  }

  /** How many replicas this Sentinel knows for the monitored primary (it learns them from INFO every 10 s). */
  async knownReplicas(): Promise<number> {
    return Number((await this.masterField("num-slaves")) ?? 0);
  }

  /** SENTINEL DEBUG parameter value (e.g. info-period: how often it sends INFO to the instances it knows). */
  async debug(parameter: string, value: string): Promise<void> {
    const reply = await this.sentinel("DEBUG", parameter, value);
    if (reply !== "OK")
      throw new Error(`SENTINEL DEBUG ${parameter} ${value} on ${this.host}: ${String(reply)}`);
  }

  /** Whether this Sentinel has had an INFO reply from the primary since it was told to monitor it. */
  async infoRefreshed(): Promise<boolean> {
    // SENTINEL MASTER says info-refresh 0 until the first reply (after that, the milliseconds since the last).
    return Number((await this.masterField("info-refresh")) ?? 0) > 0;
  }

  /** The primary's address as this Sentinel names it (SENTINEL GET-MASTER-ADDR-BY-NAME). */
  async primaryHost(): Promise<string | undefined> {
    const address = (await this.sentinel("GET-MASTER-ADDR-BY-NAME", this.monitor.name)) as string[] | null;
    return address?.[0];
  }

  /**
   * Whether this Sentinel is still in a failover: it names the promoted replica as soon as it promoted it,
   * but runs the failover until every replica is reconfigured, and meanwhile answers SENTINEL FAILOVER
   * with -INPROG.
   */
  async failingOver(): Promise<boolean> {
    return ((await this.masterField("flags")) ?? "").includes("failover_in_progress");
  }

  /** SENTINEL SET on the monitored name (e.g. a long down-after-milliseconds: only a request fails over). */
  async set(option: string, value: string): Promise<void> {
    await this.sentinel("SET", this.monitor.name, option, value);
  }

  /** The names this Sentinel monitors (SENTINEL MASTERS). */
  async monitored(): Promise<string[]> {
    const masters = (await this.sentinel("MASTERS")) as string[][];
    return masters.map((fields) => fields[fields.indexOf("name") + 1] ?? "");
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
