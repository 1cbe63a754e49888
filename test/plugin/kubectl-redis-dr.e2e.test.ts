/**
 * `kubectl redis-dr` as a user runs it: the real kubectl finds bin/kubectl-redis_dr on PATH, against a
 * sandbox with the webhook and the controller. The source is a RedisCluster `west` in the same region; `east`
 * replicates from its leader Service. Loopback range 127.89.0.0/16.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { delimiter, join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  podNames,
  promotionCompleted,
  redisClusterManifest,
  replicaSpec,
  replicating,
  startRegion,
  untilCluster,
  waitFor,
  writeKeys,
  everyPodHolds,
  type Region,
} from "../support/region-fixture.ts";
import { condition } from "../../hack/lib/observe.ts";

const RANGE = 89;
const WEST_PASSWORD = "west-pw-plugin-89";
const EAST_PASSWORD = "east-pw-plugin-89";
const SOURCE_HOST = "west-leader.default.svc.cluster.local";
const BIN = join(import.meta.dirname, "..", "..", "bin");

let region: Region;

before(async () => {
  region = await startRegion(RANGE);
  const { kubectl } = region;
  await kubectl.applyPasswordSecret("default", "west-auth", WEST_PASSWORD);
  await kubectl.applyPasswordSecret("default", "east-auth", EAST_PASSWORD);
  await kubectl.apply([
    redisClusterManifest("west", "default", { instances: 1, authSecret: { name: "west-auth" } }),
  ]);
  await untilCluster(region.view(), "west", "west Ready", (c) => condition(c, "Ready")?.status === "True");
  const westLeader = await waitFor(() => region.sb.resolve(SOURCE_HOST), { what: "west-leader resolving" });
  const written = await writeKeys(westLeader, 6379, WEST_PASSWORD, "plugin", 10);
  assert.equal(written.length, 10);
  await kubectl.apply([
    redisClusterManifest(
      "east",
      "default",
      replicaSpec(2, "east-auth", { host: SOURCE_HOST, clusterName: "west", authSecretName: "west-auth" }),
    ),
  ]);
  await untilCluster(region.view(), "east", "east replicating", replicating);
  await everyPodHolds(region.view(), podNames("east", 2), EAST_PASSWORD, written);
  // Every pod's offset and keys in status (the controller writes them each pass).
  await untilCluster(
    region.view(),
    "east",
    "east's pods in lastKnownOffsets with their keys",
    (c) => c.status?.lastKnownOffsets?.filter((o) => o.keys === 10).length === 2,
  );
});
after(() => region?.stop());

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `kubectl redis-dr ARGS` with the plugin on PATH and the sandbox's kubeconfig in KUBECONFIG. */
function plugin(args: readonly string[], input = ""): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(region.sb.kubectlBinary, ["redis-dr", ...args], {
      env: {
        ...process.env,
        PATH: `${BIN}${delimiter}${process.env["PATH"] ?? ""}`,
        KUBECONFIG: region.sb.kubeconfigPath,
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/**
 * What varies between runs, replaced: timestamps, replication IDs (and their 8-character prefixes in the pod
 * table), offsets, and the padding that depends on their widths (runs of spaces become two). Byte counts that
 * are stable in this test (lag 0, data-loss window 0) are kept.
 */
function normalise(text: string): string {
  return normaliseNumbers(text)
    .replace(/\b[0-9a-f]{40}\b/g, "<replid>")
    .replace(/^( {2}east-\d .*?)\b[0-9a-f]{8}\b +\d+/gm, "$1<id> <offset>")
    .replace(/ {2,}/g, "  ");
}

/** Timestamps and the byte counts of a demotion's plan; replication IDs stay. */
function normaliseNumbers(text: string): string {
  return text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "<time>")
    .replace(/\d+ bytes of replication stream/g, "<n> bytes of replication stream")
    .replace(/offset \d+ − promoted at \d+/g, "offset <n> − promoted at <n>");
}

const spec = async (name: string): Promise<unknown> => (await region.view().cluster(name)).spec;

describe("kubectl redis-dr", () => {
  it("status NAME summarises a replicating cluster: mode, link, pods, promotion, conditions", async () => {
    const run = await plugin(["status", "east"]);
    assert.deepEqual({ code: run.code, stderr: run.stderr }, { code: 0, stderr: "" });
    assert.equal(
      normalise(run.stdout),
      [
        "RedisCluster default/east",
        "",
        "Mode:  replica of west (west-leader.default.svc.cluster.local:6379)",
        "Pods:  2/2 ready",
        "Primary:  none (every pod replicates)",
        "Designated leader:  east-0",
        "Link:  Up",
        "Lag:  0 bytes",
        "Source last seen:  <time>",
        "",
        "Pods (as the controller last saw them):",
        "  POD  ROLE  REPLICATION ID  OFFSET  KEYS",
        "  east-0  leader (replica)  <id> <offset>  10",
        "  east-1  replica  <id> <offset>  10",
        "",
        "Last promotion: none",
        "",
        "Conditions:",
        "  TYPE  STATUS  REASON  MESSAGE",
        "  SecretsAvailable  True  Found  Every referenced Secret is readable",
        "  ReplicaMode  True  Enabled  Cluster is replicating from west (west-leader.default.svc.cluster.local:6379)",
        "  ReplicationHealthy  True  LinkUp  The leader's link to the source is up, 0 bytes behind the source",
        "  Ready  True  Ready  2/2 pods are ready",
        "",
      ].join("\n"),
    );
  });

  it("status -o json prints the raw status", async () => {
    const run = await plugin(["status", "east", "-o", "json"]);
    assert.equal(run.code, 0);
    const printed = JSON.parse(run.stdout) as Record<string, unknown>;
    const stored = (await region.view().cluster("east")).status as Record<string, unknown>;
    assert.deepEqual(Object.keys(printed).sort(), Object.keys(stored).sort());
    assert.deepEqual(
      [printed["designatedLeader"], (printed["replication"] as { linkStatus?: string }).linkStatus],
      ["east-0", "Up"],
    );
  });

  it("fails with the reason and exit code 1 for an unknown cluster, namespace or context; 2 for usage", async () => {
    const results = await Promise.all([
      plugin(["status", "nope"]),
      plugin(["status", "east", "-n", "elsewhere", "--kubeconfig", region.sb.kubeconfigPath]),
      plugin(["status", "east", "--context", "nowhere"]),
      plugin(["promote", "west"]),
      plugin(["demote", "east"]),
      plugin(["switchover", "east"]),
      plugin(["status"]),
      plugin([]),
    ]);
    // The first line of each: the usage text goes on, the errors are one line.
    assert.deepEqual(
      results.map((r) => [r.code, r.stdout.split("\n")[0], r.stderr.split("\n")[0]]),
      [
        [1, "", 'error: RedisCluster "nope" not found in namespace "default"'],
        [1, "", 'error: RedisCluster "east" not found in namespace "elsewhere"'],
        [1, "", 'error: context "nowhere" does not exist in the kubeconfig'],
        [
          1,
          "",
          "error: west is not a replica (spec.replicaMode.enabled is not true): there is nothing to promote",
        ],
        [
          1,
          "",
          "error: east has no completed promotion to undo (status.promotion.replicationId is empty): there is nothing to demote",
        ],
        [
          2,
          "",
          "error: switchover needs --handoff-address HOST[:PORT]: the address the source's region reaches this cluster's leader at",
        ],
        [2, "", "error: status takes exactly one RedisCluster name"],
        [0, "Usage: kubectl redis-dr COMMAND NAME [flags]", ""],
      ],
    );
  });

  const PROMOTE_PLAN = [
    "Promote east: east-0 stops replicating from west (west-leader.default.svc.cluster.local:6379) and becomes a primary that accepts writes; the other pods follow it.",
    "Data-loss window if the source is lost now: 0 bytes (link Up, source last seen <time>).",
    "Fence the old primary first if clients may still reach it: two primaries cannot be merged later.",
    "",
    "API change (JSON merge patch of redisclusters.redis.io default/east):",
    '  {"spec":{"replicaMode":{"promote":true}}}',
    "The same change with kubectl:",
    '  kubectl -n default patch rediscluster east --type=merge -p \'{"spec":{"replicaMode":{"promote":true}}}\'',
  ];

  it("promote --dry-run prints the patch and the current lag, and changes nothing", async () => {
    const before = await spec("east");
    const run = await plugin(["promote", "east", "--dry-run"]);
    assert.deepEqual(
      { code: run.code, stdout: normalise(run.stdout), stderr: run.stderr },
      { code: 0, stdout: [...PROMOTE_PLAN, "Dry run: nothing changed.", ""].join("\n"), stderr: "" },
    );
    assert.deepEqual(await spec("east"), before);
  });

  it("promote asks first: any answer but yes changes nothing", async () => {
    const before = await spec("east");
    const run = await plugin(["promote", "east"], "no\n");
    assert.deepEqual(
      { code: run.code, stdout: normalise(run.stdout), stderr: run.stderr },
      {
        code: 1,
        stdout: [...PROMOTE_PLAN, 'Promote east? Type "yes" to continue: '].join("\n"),
        stderr: "error: not confirmed: nothing changed\n",
      },
    );
    assert.deepEqual(await spec("east"), before);
  });

  it("promote --yes applies the patch; the promotion completes and status shows it", async () => {
    const run = await plugin(["promote", "east", "--yes"]);
    assert.deepEqual(
      { code: run.code, stdout: normalise(run.stdout), stderr: run.stderr },
      {
        code: 0,
        stdout: [
          ...PROMOTE_PLAN,
          "rediscluster.redis.io/east patched",
          "Watch it: kubectl -n default get rediscluster east -w, or kubectl redis-dr status east -n default",
          "",
        ].join("\n"),
        stderr: "",
      },
    );
    await untilCluster(region.view(), "east", "promotion completed", promotionCompleted);
    await untilCluster(
      region.view(),
      "east",
      "both pods on the promoted history in lastKnownOffsets",
      (c) =>
        c.status?.lastKnownOffsets?.filter((o) => o.replicationId === c.status?.promotion?.replicationId)
          .length === 2,
    );
    const status = await plugin(["status", "east"]);
    assert.equal(
      normalise(status.stdout),
      [
        "RedisCluster default/east",
        "",
        "Mode:  promoted (former source: west)",
        "Pods:  2/2 ready",
        "Primary:  east-0",
        "Designated leader:  east-0",
        "",
        "Pods (as the controller last saw them):",
        "  POD  ROLE  REPLICATION ID  OFFSET  KEYS",
        "  east-0  primary  <id> <offset>  10",
        "  east-1  replica  <id> <offset>  10",
        "",
        "Last promotion:",
        "  Phase:  Completed",
        "  Requested:  <time>",
        "  Completed:  <time>",
        "  Data-loss window:  0 bytes",
        "  Demotion token:  <replid>",
        "",
        "Conditions:",
        "  TYPE  STATUS  REASON  MESSAGE",
        "  SecretsAvailable  True  Found  Every referenced Secret is readable",
        "  ReplicaMode  False  Promoted  Cluster promoted to standalone (former source: west)",
        "  ReplicationHealthy  True  NotReplicating  The cluster does not replicate from a source",
        "  Ready  True  Ready  2/2 pods are ready",
        "",
      ].join("\n"),
    );
  });

  it("demote --dry-run prints the token from status and what would be discarded, and changes nothing", async () => {
    const cluster = await region.view().cluster("east");
    const token = cluster.status?.promotion?.replicationId ?? "";
    assert.match(token, /^[0-9a-f]{40}$/);
    const run = await plugin(["demote", "east", "--dry-run"]);
    const patch = `{"spec":{"replicaMode":{"promote":false,"demotionToken":"${token}"}}}`;
    assert.deepEqual({ code: run.code, stderr: run.stderr }, { code: 0, stderr: "" });
    assert.equal(
      normaliseNumbers(run.stdout),
      [
        "Demote east: every pod discards its data and copies west (west-leader.default.svc.cluster.local:6379) again (a full sync).",
        `Demotion token (status.promotion.replicationId): ${token}`,
        "Discarded: every write made on east since its promotion: <n> bytes of replication stream written on east-0 since the promotion (offset <n> − promoted at <n>, as of <time>; the leader holds 10 keys).",
        "",
        "API change (JSON merge patch of redisclusters.redis.io default/east):",
        `  ${patch}`,
        "The same change with kubectl:",
        `  kubectl -n default patch rediscluster east --type=merge -p '${patch}'`,
        "Dry run: nothing changed.",
        "",
      ].join("\n"),
    );
    assert.deepEqual(await spec("east"), cluster.spec);
  });

  it("demote --yes applies the token: the cluster replicates from west again", async () => {
    const token = (await region.view().cluster("east")).status?.promotion?.replicationId;
    const run = await plugin(["demote", "east", "--yes"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^rediscluster\.redis\.io\/east patched$/m);
    const demoted = await untilCluster(
      region.view(),
      "east",
      "east replicating again",
      (c) => replicating(c) && c.status?.lastDemotion !== undefined,
    );
    assert.deepEqual(
      [demoted.spec.replicaMode?.promote, demoted.status?.lastDemotion?.replicationId],
      [false, token],
    );
  });
});
