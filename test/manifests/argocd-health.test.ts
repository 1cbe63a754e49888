/**
 * The Argo CD health check for redis.io/RedisCluster, run by a real Lua 5.1 interpreter (the Lua version Argo
 * CD's gopher-lua implements) against RedisClusters in every state, and the argocd-cm snippet that installs it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { MANIFESTS, get, list, oneOf, parseObjects, requireTool } from "./helpers.ts";

const HEALTH_LUA = readFileSync(path.join(MANIFESTS, "argocd/redis.io_RedisCluster.lua"), "utf8");

/** A Lua 5.1 string literal: control characters as decimal escapes (Lua 5.1 has no \u escapes). */
function luaString(text: string): string {
  let literal = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"' || char === "\\") literal += `\\${char}`;
    else if (code < 32 || code === 127) literal += `\\${code}`;
    else literal += char;
  }
  return `${literal}"`;
}

/** A JSON value as the Lua table Argo CD hands the script (null fields are absent, as in Argo CD). */
function luaValue(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "string") return luaString(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `{ ${value.map(luaValue).join(", ")} }`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, field]) => field !== null && field !== undefined)
    .map(([key, field]) => `[${luaString(key)}] = ${luaValue(field)}`);
  return `{ ${entries.join(", ")} }`;
}

interface Health {
  readonly status: string;
  readonly message: string;
}

/** Runs the health script on `object` with lua5.1, the way Argo CD calls it (a global `obj`). */
function health(object: unknown): Health {
  requireTool("lua5.1");
  const program = [
    `obj = ${luaValue(object)}`,
    `local function check()\n${HEALTH_LUA}\nend`,
    "local hs = check()",
    'io.write(tostring(hs.status), "\\n", tostring(hs.message))',
  ].join("\n");
  const result = spawnSync("lua5.1", ["-"], { input: program, encoding: "utf8" });
  assert.equal(result.status, 0, `lua5.1 failed: ${result.stderr}`);
  const [status = "", ...message] = result.stdout.split("\n");
  return { status, message: message.join("\n") };
}

const REPLICATING =
  "Cluster is replicating from prod-redis-us-east (prod-redis-leader.production.svc.cluster.local:6379)";
const PROMOTED = "Cluster promoted to standalone (former source: prod-redis-us-east)";
const T = "2026-01-01T00:00:00Z";

function condition(type: string, status: string, reason: string, message: string, observedGeneration = 2) {
  return { type, status, reason, message, observedGeneration, lastTransitionTime: T };
}

function cluster(status: Record<string, unknown> | undefined, generation = 2) {
  return {
    apiVersion: "redis.io/v1",
    kind: "RedisCluster",
    metadata: { name: "dr-redis", namespace: "production", generation },
    spec: { instances: 3, replicaMode: { enabled: true, source: { host: "prod-redis-leader" } } },
    ...(status === undefined ? {} : { status }),
  };
}

const ready = condition("Ready", "True", "Ready", "3/3 pods ready");
const linkUp = condition(
  "ReplicationHealthy",
  "True",
  "LinkUp",
  "The leader's link to the source is up, 0 bytes behind",
);
const replicating = condition("ReplicaMode", "True", "Enabled", REPLICATING);
const promoted = condition("ReplicaMode", "False", "Promoted", PROMOTED);

const cases: readonly { name: string; object: unknown; expected: Health }[] = [
  {
    name: "a new cluster without status is progressing",
    object: cluster(undefined, 1),
    expected: { status: "Progressing", message: "Waiting for the controller to report status" },
  },
  {
    name: "a spec change the controller has not observed yet is progressing, even if Ready was True",
    object: cluster({ observedGeneration: 2, conditions: [ready, replicating] }, 3),
    expected: { status: "Progressing", message: "Waiting for the controller to observe generation 3" },
  },
  {
    name: "a status without observedGeneration is progressing",
    object: cluster({ conditions: [ready] }),
    expected: { status: "Progressing", message: "Waiting for the controller to observe generation 2" },
  },
  {
    name: "a replicating cluster with Ready True is healthy and says where it replicates from",
    object: cluster({ observedGeneration: 2, conditions: [ready, replicating, linkUp] }),
    expected: { status: "Healthy", message: REPLICATING },
  },
  {
    name: "a replicating cluster whose link to the source is down is degraded, even with every pod ready",
    object: cluster({
      observedGeneration: 2,
      conditions: [
        ready,
        replicating,
        condition(
          "ReplicationHealthy",
          "False",
          "LinkDown",
          "The leader's link to the source is down for 95s",
        ),
      ],
    }),
    expected: { status: "Degraded", message: "The leader's link to the source is down for 95s" },
  },
  {
    name: "a replicating cluster whose leader cannot be asked is degraded",
    object: cluster({
      observedGeneration: 2,
      conditions: [
        ready,
        replicating,
        condition("ReplicationHealthy", "Unknown", "LeaderUnreachable", "The leader could not be asked"),
      ],
    }),
    expected: { status: "Degraded", message: "The leader could not be asked" },
  },
  {
    name: "a replicating cluster running its full synchronisation is progressing",
    object: cluster({
      observedGeneration: 2,
      conditions: [
        ready,
        replicating,
        condition("ReplicationHealthy", "False", "Syncing", "The leader is running a full synchronisation"),
      ],
    }),
    expected: { status: "Progressing", message: "The leader is running a full synchronisation" },
  },
  {
    name: "a cluster whose referenced Secret went missing is degraded, even with every pod ready",
    object: cluster({
      observedGeneration: 2,
      conditions: [
        ready,
        replicating,
        linkUp,
        condition("SecretsAvailable", "False", "SecretMissing", 'Secret "dr-redis-auth" not found'),
      ],
    }),
    expected: { status: "Degraded", message: 'Secret "dr-redis-auth" not found' },
  },
  {
    name: "Ready False because a change is blocked (e.g. a refused demotion) is degraded",
    object: cluster({
      observedGeneration: 2,
      conditions: [condition("Ready", "False", "Blocked", "demotion refused: demotionToken does not match")],
    }),
    expected: { status: "Degraded", message: "demotion refused: demotionToken does not match" },
  },
  {
    name: "Ready False while pods start is progressing",
    object: cluster({
      observedGeneration: 2,
      conditions: [condition("Ready", "False", "PodsNotReady", "1/3 pods are ready")],
    }),
    expected: { status: "Progressing", message: "1/3 pods are ready" },
  },
  {
    name: "a promoted cluster (ReplicaMode False/Promoted) is healthy",
    object: cluster({
      observedGeneration: 2,
      conditions: [
        promoted,
        ready,
        condition(
          "ReplicationHealthy",
          "True",
          "NotReplicating",
          "The cluster does not replicate from a source",
        ),
      ],
      promotion: { phase: "Completed", replicationId: "8f1c2e", formerSource: "prod-redis-us-east" },
    }),
    expected: { status: "Healthy", message: PROMOTED },
  },
  {
    name: "a standalone cluster with Ready True is healthy with Ready's message",
    object: cluster({ observedGeneration: 2, conditions: [ready] }),
    expected: { status: "Healthy", message: "3/3 pods ready" },
  },
  {
    name: "a promotion in progress is progressing and names its phase",
    object: cluster({
      observedGeneration: 2,
      conditions: [condition("Ready", "False", "Promoting", "promotion in progress"), replicating],
      promotion: { phase: "CatchingUp", message: "leader catching up from dr-redis-2 (512 bytes)" },
    }),
    expected: {
      status: "Progressing",
      message: "Promotion in progress (CatchingUp): leader catching up from dr-redis-2 (512 bytes)",
    },
  },
  {
    name: "a promotion in its Reattaching phase without a message is progressing",
    object: cluster({ observedGeneration: 2, conditions: [ready], promotion: { phase: "Reattaching" } }),
    expected: { status: "Progressing", message: "Promotion in progress (Reattaching)" },
  },
  {
    name: "a failed promotion is degraded with the controller's message",
    object: cluster({
      observedGeneration: 2,
      conditions: [ready, replicating],
      promotion: { phase: "Failed", message: "leader pod dr-redis-0 is not running" },
    }),
    expected: { status: "Degraded", message: "Promotion failed: leader pod dr-redis-0 is not running" },
  },
  {
    name: "a failed promotion without a message is degraded and points at the Events",
    object: cluster({ observedGeneration: 2, conditions: [ready], promotion: { phase: "Failed" } }),
    expected: { status: "Degraded", message: "Promotion failed: see the RedisCluster's Events" },
  },
  {
    name: "Ready False for a broken link is degraded",
    object: cluster({
      observedGeneration: 2,
      conditions: [condition("Ready", "False", "LinkDown", "replication link down for 120s"), replicating],
    }),
    expected: { status: "Degraded", message: "replication link down for 120s" },
  },
  {
    name: "Ready False while the first full synchronisation runs is progressing",
    object: cluster({
      observedGeneration: 2,
      conditions: [
        condition("Ready", "False", "Syncing", "full synchronisation from the source"),
        replicating,
      ],
    }),
    expected: { status: "Progressing", message: "full synchronisation from the source" },
  },
  {
    name: "Ready Unknown is progressing",
    object: cluster({
      observedGeneration: 2,
      conditions: [condition("Ready", "Unknown", "Reconciling", "")],
    }),
    expected: { status: "Progressing", message: "Not ready yet" },
  },
  {
    name: "no Ready condition yet is progressing",
    object: cluster({ observedGeneration: 2, conditions: [replicating] }),
    expected: { status: "Progressing", message: "Waiting for the Ready condition" },
  },
  {
    name: "a Ready condition computed from an older generation is progressing",
    object: cluster({ observedGeneration: 2, conditions: [condition("Ready", "True", "Ready", "ok", 1)] }),
    expected: { status: "Progressing", message: "Waiting for the Ready condition of generation 2" },
  },
  {
    name: "a message with quotes, backslashes and newlines survives",
    object: cluster({
      observedGeneration: 2,
      conditions: [condition("Ready", "False", "AuthFailed", 'source said "WRONGPASS"\\n\nretrying')],
    }),
    expected: { status: "Degraded", message: 'source said "WRONGPASS"\\n\nretrying' },
  },
];

describe("Argo CD health check for RedisCluster", () => {
  for (const { name, object, expected } of cases) {
    it(name, () => {
      assert.deepEqual(health(object), expected);
    });
  }

  it("argocd-cm installs the health check verbatim, and the caBundle exclusions", () => {
    const [configMap] = parseObjects(
      readFileSync(path.join(MANIFESTS, "argocd/argocd-cm-patch.yaml"), "utf8"),
      "argocd-cm-patch.yaml",
    );
    assert.ok(configMap);
    assert.equal(configMap.metadata.name, "argocd-cm");
    assert.equal(get(configMap, "data", "resource.customizations.health.redis.io_RedisCluster"), HEALTH_LUA);
    for (const kind of ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]) {
      assert.equal(
        get(
          configMap,
          "data",
          `resource.customizations.ignoreDifferences.admissionregistration.k8s.io_${kind}`,
        ),
        'jqPathExpressions:\n  - ".webhooks[]?.clientConfig.caBundle"\n',
      );
    }
  });

  it("the example Application ignores the injected caBundle of both webhook configurations", () => {
    const applications = parseObjects(
      readFileSync(path.join(MANIFESTS, "argocd/applications.yaml"), "utf8"),
      "applications.yaml",
    );
    const redisDr = oneOf(applications, "Application", "redis-dr");
    assert.deepEqual(list(redisDr, "spec", "ignoreDifferences"), [
      {
        group: "admissionregistration.k8s.io",
        kind: "MutatingWebhookConfiguration",
        jqPathExpressions: [".webhooks[]?.clientConfig.caBundle"],
      },
      {
        group: "admissionregistration.k8s.io",
        kind: "ValidatingWebhookConfiguration",
        jqPathExpressions: [".webhooks[]?.clientConfig.caBundle"],
      },
    ]);
    assert.ok(list(redisDr, "spec", "syncPolicy", "syncOptions").includes("RespectIgnoreDifferences=true"));
    assert.equal(get(redisDr, "spec", "source", "path"), "manifests");
    // The components it enables are kustomize Components under that path.
    for (const component of list(redisDr, "spec", "source", "kustomize", "components")) {
      const file = path.join(MANIFESTS, String(component), "kustomization.yaml");
      assert.match(readFileSync(file, "utf8"), /^kind: Component$/m, String(component));
    }
  });
});
