/**
 * Looking at a sandbox the way an operator of the product would: the RedisCluster's status and conditions,
 * its Events, the controller's metrics, and the Redis pods themselves (INFO, keys).
 */
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { Condition, RedisCluster } from "../../schemas/generated/rediscluster.ts";
import type { TestCluster } from "../sandbox/testing.ts";

export const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

const crd = (namespace: string) => ({ group: "redis.io", version: "v1", namespace, plural: "redisclusters" });

export interface ClusterEvent {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
}

/** One region's view: a sandbox and a namespace in it. */
export class RegionView {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;

  constructor(
    readonly sb: TestCluster,
    readonly namespace: string,
  ) {
    this.custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = sb.kubeConfig.makeApiClient(CoreV1Api);
  }

  async cluster(name: string): Promise<RedisCluster> {
    return (await this.custom.getNamespacedCustomObject({ ...crd(this.namespace), name })) as RedisCluster;
  }

  async patchSpec(name: string, spec: Record<string, unknown>): Promise<RedisCluster> {
    return (await this.custom.patchNamespacedCustomObject(
      { ...crd(this.namespace), name, body: { spec } },
      mergePatch,
    )) as RedisCluster;
  }

  async events(name: string): Promise<ClusterEvent[]> {
    const list = await this.core.listNamespacedEvent({ namespace: this.namespace });
    return list.items
      .filter((e) => e.involvedObject.kind === "RedisCluster" && e.involvedObject.name === name)
      .map((e) => ({ type: e.type ?? "", reason: e.reason ?? "", message: e.message ?? "" }));
  }

  podIP(pod: string): string {
    const ip = this.sb.podIP(pod, this.namespace);
    if (ip === undefined) throw new Error(`${this.namespace}/${pod} has no IP`);
    return ip;
  }

  /** Runs `run` with a client of the pod (its current IP); the client is closed afterwards. */
  async onPod<T>(pod: string, password: string, run: (client: Redis) => Promise<T>): Promise<T> {
    const client = redisClient(this.podIP(pod), 6379, password);
    try {
      return await run(client);
    } finally {
      client.disconnect();
    }
  }

  async info(pod: string, password: string, section: string): Promise<Record<string, string>> {
    return parseInfo(await this.onPod(pod, password, (c) => c.info(section)));
  }

  async keys(pod: string, password: string, pattern = "*"): Promise<Set<string>> {
    return new Set(await this.onPod(pod, password, (c) => c.keys(pattern)));
  }
}

export const condition = (cluster: RedisCluster, type: string): Condition | undefined =>
  cluster.status?.conditions?.find((c) => c.type === type);

/** A client that fails fast instead of retrying: the callers poll. */
export function redisClient(host: string, port: number, password: string | undefined): Redis {
  const client = new Redis({
    host,
    port,
    password,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    enableReadyCheck: false,
    connectTimeout: 2000,
    commandTimeout: 3000,
  });
  client.on("error", () => undefined);
  return client;
}

export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(":");
    if (at > 0 && !line.startsWith("#")) fields[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return fields;
}

/** The controller's metrics page (the leader's, where several run). */
export async function controllerMetrics(sb: TestCluster): Promise<string> {
  const response = await fetch(await sb.controllerMetricsUrl());
  return response.text();
}

/** The value of one series (exact label set, in the order prom-client prints them), or undefined. */
export function metricValue(
  text: string,
  name: string,
  labels: { namespace: string; cluster: string; pod: string },
): number | undefined {
  const series = `${name}{namespace="${labels.namespace}",cluster="${labels.cluster}",pod="${labels.pod}"}`;
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** Keys of `expected` that `actual` lacks. */
export const missing = (expected: Iterable<string>, actual: Set<string>): string[] =>
  [...expected].filter((k) => !actual.has(k));
