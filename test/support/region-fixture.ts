/**
 * What the scenario and fault tests share: a "region" with the webhook and the controller, real kubectl,
 * the drill helpers of hack/lib/, and small builders for the reference's objects. A region is the
 * embedded sandbox, or with E2E_BACKEND=real a real cluster with redis-dr installed from manifests/
 * (hack/k8s/testing.ts): the same scenario runs on both.
 */
import { cpSync, existsSync } from "node:fs";
import { join } from "node:path";
import { startTestCluster } from "../../hack/k8s/testing.ts";
import { waitFor, type TestCluster } from "../../hack/sandbox/testing.ts";
import { Kubectl } from "../../hack/lib/kubectl.ts";
import { RegionView, condition, parseInfo, redisClient } from "../../hack/lib/observe.ts";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";

export { waitFor };

export interface Region {
  readonly sb: TestCluster;
  readonly kubectl: Kubectl;
  view(namespace?: string): RegionView;
  /** Stops the region; with E2E_LOG_DIR set, keeps the operator's logs there first (for failed CI runs). */
  stop(): Promise<void>;
}

/**
 * A region with the webhook and the controller (resync every 2 s, so status follows quickly). `operatorEnv`
 * adds to the programs' environment (e.g. SECRET_REFRESH_SECONDS).
 */
export async function startRegion(
  range: number,
  options: { webhook?: boolean; operatorEnv?: Record<string, string> } = {},
): Promise<Region> {
  const sb = await startTestCluster({
    range,
    webhook: options.webhook ?? true,
    controller: true,
    operatorEnv: { RESYNC_SECONDS: "2", ...options.operatorEnv },
  });
  const kubectl = new Kubectl(sb.kubeconfigPath, sb.kubectlBinary);
  if (options.webhook ?? true) {
    // The webhook reports ready a moment before its admission port listens (see the report of issue 8):
    // wait until a server-side dry run of a RedisCluster is admitted.
    const probe = redisClusterManifest("admission-probe", "default", { instances: 1 });
    await waitFor(
      async () =>
        (await kubectl.run(["apply", "--dry-run=server", "-f", "-"], JSON.stringify(probe))).code === 0,
      {
        what: "the webhook admitting requests",
        timeoutMs: 30_000,
      },
    ).catch(async (error: unknown) => {
      await sb.stop();
      throw error;
    });
  }
  return {
    sb,
    kubectl,
    view: (namespace = "default") => new RegionView(sb, namespace),
    async stop() {
      const keep = process.env["E2E_LOG_DIR"];
      if (keep !== undefined && existsSync(join(sb.dir, "logs"))) {
        cpSync(join(sb.dir, "logs"), join(keep, `range-${range}-${Date.now()}`), { recursive: true });
      }
      await sb.stop();
    },
  };
}

export function redisClusterManifest(
  name: string,
  namespace: string,
  spec: Record<string, unknown>,
): RedisCluster & { metadata: { name: string; namespace: string } } {
  return {
    apiVersion: "redis.io/v1",
    kind: "RedisCluster",
    metadata: { name, namespace },
    spec,
  } as RedisCluster & {
    metadata: { name: string; namespace: string };
  };
}

export const replicaSpec = (
  instances: number,
  authSecret: string,
  source: { host: string; port?: number; clusterName: string; authSecretName: string },
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({
  instances,
  storage: { size: "1Gi" },
  authSecret: { name: authSecret },
  replicaMode: { enabled: true, source: { port: 6379, ...source } },
  ...extra,
});

/** Polls the cluster until `check` holds; resolves with the cluster. */
export function untilCluster(
  view: RegionView,
  name: string,
  what: string,
  check: (cluster: RedisCluster) => boolean,
  timeoutMs = 60_000,
): Promise<RedisCluster> {
  return waitFor(
    async () => {
      const cluster = await view.cluster(name);
      return check(cluster) ? cluster : undefined;
    },
    { what, timeoutMs, intervalMs: 100 },
  );
}

export const replicating = (cluster: RedisCluster): boolean =>
  cluster.status?.replication?.linkStatus === "Up" && condition(cluster, "ReplicaMode")?.reason === "Enabled";

/**
 * Applies a replica-mode RedisCluster and waits until it replicates — with `holds`, until every one of its
 * `pods` holds those keys too.
 */
export async function applyReplicating(
  region: Region,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  holds?: { pods: readonly string[]; password: string; keys: readonly string[] },
): Promise<void> {
  await region.kubectl.apply([redisClusterManifest(name, namespace, spec)]);
  await untilCluster(region.view(namespace), name, `${name} replicating`, replicating);
  if (holds !== undefined)
    await everyPodHolds(region.view(namespace), holds.pods, holds.password, holds.keys);
}

export const promotionCompleted = (cluster: RedisCluster): boolean =>
  cluster.status?.promotion?.phase === "Completed" &&
  condition(cluster, "ReplicaMode")?.reason === "Promoted";

/** Writes `count` keys `<prefix>:<n>` in one pipeline; resolves with the keys Redis acknowledged. */
export async function writeKeys(
  host: string,
  port: number,
  password: string,
  prefix: string,
  count: number,
  valueBytes = 1,
): Promise<string[]> {
  const client = redisClient(host, port, password);
  try {
    const keys = Array.from({ length: count }, (_, i) => `${prefix}:${i}`);
    const pipeline = client.pipeline();
    const value = "1".repeat(valueBytes);
    for (const key of keys) pipeline.set(key, value);
    const results = (await pipeline.exec()) ?? [];
    return keys.filter((_, i) => results[i]?.[0] === null);
  } finally {
    client.disconnect();
  }
}

/** What a user sees with `kubectl exec <pod> -- redis-cli INFO <section>` (the password from the pod's env). */
export async function redisCliInfo(
  sb: TestCluster,
  pod: string,
  namespace: string,
  section: string,
): Promise<Record<string, string>> {
  const run = await new Kubectl(sb.kubeconfigPath, sb.kubectlBinary).ok([
    "-n",
    namespace,
    "exec",
    pod,
    "--",
    "sh",
    "-c",
    `REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli INFO ${section}`,
  ]);
  return parseInfo(run.stdout);
}

/** Every pod of the cluster holds every key of `expected` (polled: replicas may still be applying). */
export async function everyPodHolds(
  view: RegionView,
  pods: readonly string[],
  password: string,
  expected: readonly string[],
  timeoutMs = 20_000,
): Promise<void> {
  const missing = await keysMissing(view, pods, password, expected, timeoutMs);
  if (missing.lost > 0) throw new Error(missing.detail);
}

/**
 * How many keys of `expected` are missing from at least one pod: each pod is read back (every key it holds)
 * until it holds them all or `timeoutMs` passes, polled because replicas may still be applying. `detail`
 * names the pods that lack keys, with examples. A pod that cannot be read counts as lacking every key.
 */
export async function keysMissing(
  view: RegionView,
  pods: readonly string[],
  password: string,
  expected: readonly string[],
  timeoutMs = 20_000,
): Promise<{ lost: number; detail: string }> {
  const lostAnywhere = new Set<string>();
  const details: string[] = [];
  for (const pod of pods) {
    let lost: readonly string[] = expected;
    let lastError: unknown;
    await waitFor(
      async () => {
        try {
          const keys = await view.keys(pod, password);
          lost = expected.filter((k) => !keys.has(k));
          lastError = undefined;
        } catch (error) {
          lastError = error;
        }
        return lost.length === 0;
      },
      { what: `${pod} holding all ${expected.length} keys`, timeoutMs, intervalMs: 200 },
    ).catch(() => undefined);
    if (lost.length === 0) continue;
    for (const key of lost) lostAnywhere.add(key);
    details.push(
      `${pod} lacks ${lost.length} of ${expected.length} keys, e.g. ${lost.slice(0, 3).join(", ")}` +
        (lastError === undefined ? "" : ` (last read failed: ${String(lastError)})`),
    );
  }
  return { lost: lostAnywhere.size, detail: details.join("; ") };
}

export const podNames = (cluster: string, instances: number): string[] =>
  Array.from({ length: instances }, (_, i) => `${cluster}-${i}`);

/** Full resyncs the pods served so far (INFO stats sync_full, summed). */
export async function fullSyncsServed(
  view: RegionView,
  pods: readonly string[],
  password: string,
): Promise<number> {
  let total = 0;
  for (const pod of pods) total += Number((await view.info(pod, password, "stats"))["sync_full"] ?? 0);
  return total;
}
