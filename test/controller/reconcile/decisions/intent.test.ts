import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RedisClusterSpec } from "../../../../schemas/generated/rediscluster.ts";
import { decideIntent } from "../../../../controller/model/intent.ts";
import { replicaModeCondition } from "../../../../controller/model/conditions.ts";

const source = {
  host: "prod-redis-leader.production.svc.cluster.local",
  port: 6379,
  clusterName: "prod-redis-us-east",
};
const spec = (replicaMode: RedisClusterSpec["replicaMode"]): RedisClusterSpec => ({
  instances: 3,
  replicaMode,
});
const sourceRef = { ...source, authSecretName: undefined };

describe("decideIntent", () => {
  const cases: [
    string,
    RedisClusterSpec,
    Parameters<typeof decideIntent>[1],
    ReturnType<typeof decideIntent>,
  ][] = [
    ["no replica mode is standalone", { instances: 3 }, undefined, { kind: "standalone" }],
    [
      "replica mode replicates, direct by default",
      spec({ enabled: true, source }),
      undefined,
      { kind: "replicate", source: sourceRef, topology: "direct" },
    ],
    [
      "cascade topology",
      spec({ enabled: true, source, topology: "cascade" }),
      {},
      { kind: "replicate", source: sourceRef, topology: "cascade" },
    ],
    [
      "promoteBy: Handoff keeps replicating, announced at the hand-off address, until the hand-off is recorded",
      spec({
        enabled: true,
        source,
        promote: true,
        promoteBy: "Handoff",
        handoffAddress: { host: "34.1.2.3" },
      }),
      { promotion: { phase: "AwaitingHandoff" } },
      {
        kind: "replicate",
        source: sourceRef,
        topology: "direct",
        handoffAddress: { host: "34.1.2.3", port: 6379 },
      },
    ],
    [
      "promoteBy: Handoff promotes once the hand-off is recorded",
      spec({
        enabled: true,
        source,
        promote: true,
        promoteBy: "Handoff",
        handoffAddress: { host: "34.1.2.3" },
      }),
      { promotion: { phase: "Reattaching", via: "Handoff", replicationId: "abc" } },
      { kind: "promote", source: sourceRef },
    ],
    [
      "joinBy: Handoff replicates by hand-off, 10 s and attempt 0 by default",
      spec({ enabled: true, source, joinBy: "Handoff" }),
      undefined,
      { kind: "replicate", source: sourceRef, topology: "direct", join: { timeoutMs: 10_000, attempt: 0 } },
    ],
    [
      "joinBy: Handoff takes the timeout and the attempt from the spec",
      spec({ enabled: true, source, joinBy: "Handoff", handoffTimeoutSeconds: 3, handoffAttempt: 2 }),
      undefined,
      { kind: "replicate", source: sourceRef, topology: "direct", join: { timeoutMs: 3000, attempt: 2 } },
    ],
    [
      "a confirmed demotion with joinBy: Handoff hands over",
      spec({ enabled: true, source, joinBy: "Handoff", demotionToken: "abc" }),
      { promotion: { phase: "Completed", replicationId: "abc" } },
      {
        kind: "demote",
        source: sourceRef,
        topology: "direct",
        replicationId: "abc",
        join: { timeoutMs: 10_000, attempt: 0 },
      },
    ],
    [
      "promote: true promotes",
      spec({ enabled: true, source, promote: true }),
      {},
      { kind: "promote", source: sourceRef },
    ],
    [
      "reverting an unfinished promotion replicates again",
      spec({ enabled: true, source, promote: false }),
      { promotion: { phase: "CatchingUp" } },
      { kind: "replicate", source: sourceRef, topology: "direct" },
    ],
    [
      "reverting a completed promotion with the token demotes",
      spec({ enabled: true, source, promote: false, demotionToken: "abc" }),
      { promotion: { phase: "Completed", replicationId: "abc" } },
      { kind: "demote", source: sourceRef, topology: "direct", replicationId: "abc" },
    ],
    [
      "reverting a completed promotion with a wrong token is refused",
      spec({ enabled: true, source, demotionToken: "old" }),
      { promotion: { phase: "Completed", replicationId: "abc" } },
      { kind: "demotion-refused", source: sourceRef, replicationId: "abc" },
    ],
    [
      "replica mode switched off after a promotion stays standalone",
      spec({ enabled: false, source }),
      { promotion: { phase: "Completed", replicationId: "abc" } },
      { kind: "standalone" },
    ],
  ];
  for (const [name, s, status, expected] of cases) {
    it(name, () => assert.deepEqual(decideIntent(s, status), expected));
  }

  it("uses the source port default and the host when no cluster name is given", () => {
    assert.deepEqual(decideIntent(spec({ enabled: true, source: { host: "10.1.2.3" } }), undefined), {
      kind: "replicate",
      source: { host: "10.1.2.3", port: 6379, clusterName: "10.1.2.3", authSecretName: undefined },
      topology: "direct",
    });
  });
});

describe("the ReplicaMode condition", () => {
  it("uses the reference's wording while replicating", () => {
    assert.deepEqual(
      replicaModeCondition(decideIntent(spec({ enabled: true, source }), undefined), undefined),
      {
        type: "ReplicaMode",
        status: "True",
        reason: "Enabled",
        message:
          "Cluster is replicating from prod-redis-us-east (prod-redis-leader.production.svc.cluster.local:6379)",
      },
    );
  });

  it("uses the reference's wording after promotion", () => {
    const status = { promotion: { phase: "Completed" as const, formerSource: "prod-redis-us-east" } };
    assert.deepEqual(
      replicaModeCondition(decideIntent(spec({ enabled: true, source, promote: true }), status), status),
      {
        type: "ReplicaMode",
        status: "False",
        reason: "Promoted",
        message: "Cluster promoted to standalone (former source: prod-redis-us-east)",
      },
    );
  });

  it("says a promotion is under way before it completes", () => {
    const status = { promotion: { phase: "CatchingUp" as const } };
    assert.deepEqual(
      replicaModeCondition(decideIntent(spec({ enabled: true, source, promote: true }), status), status),
      {
        type: "ReplicaMode",
        status: "True",
        reason: "Promoting",
        message:
          "Promotion requested (phase CatchingUp); the cluster was replicating from prod-redis-us-east (prod-redis-leader.production.svc.cluster.local:6379)",
      },
    );
  });
});
