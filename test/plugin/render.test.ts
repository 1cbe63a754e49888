/**
 * The plugin's text, from fixed RedisClusters: the layout, and the states the sandbox test does not reach
 * (a promotion blocked for a human, a data-loss window that is a lower bound, an unknown discarded count).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  dataLossWindow,
  describeChange,
  discardedSincePromotion,
  planDemote,
  parseHandoffAddress,
  planPromote,
  planSwitchover,
  renderStatus,
  type NamedCluster,
} from "../../plugin/render.ts";

const RUN_ID = "4f1c0de5a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3";
const OLD_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
const BLOCKED =
  "dr-0 is empty and dr-1 cannot be asked: dr-0 does not become a primary until every pod has been seen, " +
  "since those pods may hold data the others lack and would copy dr-0's dataset. To go on with the pods that " +
  `answer, discarding whatever the others hold: kubectl annotate rediscluster dr redis.io/confirm-leader=promote:${RUN_ID} --overwrite`;

/** A promotion requested during an outage: the source is gone, the leader waits for dr-1. */
const blockedPromotion: NamedCluster = {
  apiVersion: "redis.io/v1",
  kind: "RedisCluster",
  metadata: { name: "dr", namespace: "production" },
  spec: {
    instances: 2,
    replicaMode: {
      enabled: true,
      promote: true,
      source: { host: "10.0.0.7", port: 6379, clusterName: "prod" },
    },
  },
  status: {
    readyInstances: 1,
    designatedLeader: "dr-0",
    lastKnownOffsets: [
      { pod: "dr-1", replicationId: OLD_ID, offset: 123456, keys: 1000 },
      { pod: "dr-0", replicationId: OLD_ID, offset: 0 },
    ],
    replication: { linkStatus: "Down", lagBytes: 2048, sourceLastSeen: "2026-01-02T03:04:05Z" },
    promotion: {
      phase: "CatchingUp",
      requestedAt: "2026-01-02T03:10:00Z",
      lagAtPromotionBytes: 2048,
      lagAtPromotionIsLowerBound: true,
      sourceLastSeen: "2026-01-02T03:04:05Z",
    },
    conditions: [
      {
        type: "LeaderBlocked",
        status: "True",
        reason: "UnobservedPods",
        message: BLOCKED,
        lastTransitionTime: "2026-01-02T03:10:01Z",
      },
      {
        type: "SourceDiscontinuity",
        status: "False",
        reason: "Following",
        message: `The pods follow the source again, on its replication history ${OLD_ID}`,
        lastTransitionTime: "2026-01-02T03:00:00Z",
      },
    ],
  },
};

describe("the plugin's text", () => {
  it("status shows a blocked promotion, its lower-bound window, and the command that resolves it", () => {
    assert.equal(
      renderStatus(blockedPromotion),
      [
        "RedisCluster production/dr",
        "",
        "Mode:               promoting (phase CatchingUp; source: prod (10.0.0.7:6379))",
        "Pods:               1/2 ready",
        "Primary:            none (every pod replicates)",
        "Designated leader:  dr-0",
        "",
        "Pods (as the controller last saw them):",
        "  POD   ROLE              REPLICATION ID  OFFSET  KEYS",
        "  dr-0  leader (replica)  a1b2c3d4        0       -",
        "  dr-1  replica           a1b2c3d4        123456  1000",
        "",
        "Last promotion:",
        "  Phase:             CatchingUp",
        "  Requested:         2026-01-02T03:10:00Z",
        "  Completed:         -",
        "  Data-loss window:  at least 2048 bytes (the source could not be asked; last seen 2026-01-02T03:04:05Z)",
        "",
        "Conditions:",
        "  TYPE                 STATUS  REASON          MESSAGE",
        `  LeaderBlocked        True    UnobservedPods  ${BLOCKED}`,
        `  SourceDiscontinuity  False   Following       The pods follow the source again, on its replication history ${OLD_ID}`,
        "",
        "!! LeaderBlocked (UnobservedPods): the controller waits for you.",
        `   ${BLOCKED}`,
        `   Resolve with: kubectl -n production annotate rediscluster dr redis.io/confirm-leader=promote:${RUN_ID} --overwrite`,
        "",
      ].join("\n"),
    );
  });

  it("a data-loss window says when no pod had finished its first copy", () => {
    assert.equal(
      dataLossWindow({ lagAtPromotionBytes: 1_000_000, initialSyncIncomplete: true }),
      "1000000 bytes; initial sync incomplete: everything the source held is lost on this side",
    );
    assert.equal(dataLossWindow({ phase: "Promoting" }), "not recorded");
  });

  it("switchover prints the promote-by-hand-off patch and the source's change, and refuses a promoted cluster", () => {
    const replica: NamedCluster = {
      ...blockedPromotion,
      spec: {
        ...blockedPromotion.spec,
        replicaMode: { ...blockedPromotion.spec.replicaMode, promote: false },
      },
    };
    const plan = planSwitchover(replica, { host: "34.1.2.3", port: 6380 });
    assert.deepEqual(plan, {
      kind: "change",
      change: {
        patch: {
          spec: {
            replicaMode: {
              promote: true,
              promoteBy: "Handoff",
              handoffAddress: { host: "34.1.2.3", port: 6380 },
            },
          },
        },
        cost: [
          "Prepare dr to take the primary role from prod (10.0.0.7:6379) without losing a write: dr-0 keeps " +
            "replicating and is announced to prod as 34.1.2.3:6380, which must reach it.",
          "Then, in prod's region, make prod a replica by hand-off (<SECRET>: a Secret there holding dr's password):",
          "  kubectl -n production patch rediscluster prod --type=merge -p " +
            `'{"spec":{"replicaMode":{"enabled":true,"source":{"host":"34.1.2.3","port":6380,"clusterName":"dr","authSecretName":"<SECRET>"},"joinBy":"Handoff"}}}'`,
          "Writes on prod pause while dr catches up (at most spec.replicaMode.handoffTimeoutSeconds, 10 s by " +
            "default); on timeout nothing changes.",
        ],
        question: "Prepare dr for a switchover?",
      },
    });
    assert.deepEqual(planSwitchover(blockedPromotion, { host: "34.1.2.3", port: 6379 }), {
      kind: "refused",
      reason: "dr is already promoted or being promoted (status.promotion.phase: CatchingUp)",
    });
  });

  it("reads a hand-off address with or without a port, and refuses a malformed one", () => {
    assert.deepEqual(
      ["34.1.2.3", "west.example.com:6380", "[2001:db8::1]:7000", "a:0", "a:b", ""].map(parseHandoffAddress),
      [
        { host: "34.1.2.3", port: 6379 },
        { host: "west.example.com", port: 6380 },
        { host: "2001:db8::1", port: 7000 },
        undefined,
        undefined,
        undefined,
      ],
    );
  });

  it("promote refuses a cluster already being promoted, and a standalone one", () => {
    assert.deepEqual(planPromote(blockedPromotion), {
      kind: "refused",
      reason: "dr is already promoted or being promoted (status.promotion.phase: CatchingUp)",
    });
    const standalone: NamedCluster = { ...blockedPromotion, spec: { instances: 1 }, status: {} };
    assert.deepEqual(planPromote(standalone), {
      kind: "refused",
      reason: "dr is not a replica (spec.replicaMode.enabled is not true): there is nothing to promote",
    });
  });

  it("demote says when what it discards is unknown, and prints the patch with the token", () => {
    const promoted: NamedCluster = {
      ...blockedPromotion,
      status: {
        currentPrimary: "dr-0",
        promotion: { phase: "Completed", replicationId: RUN_ID, promotedOffset: 500 },
        lastKnownOffsets: [{ pod: "dr-0", replicationId: OLD_ID, offset: 500 }],
      },
    };
    assert.equal(
      discardedSincePromotion(promoted),
      "unknown (the controller has no offset of the leader on the promoted history)",
    );
    const plan = planDemote(promoted);
    assert.equal(plan.kind, "change");
    if (plan.kind !== "change") return;
    assert.equal(
      describeChange(promoted, plan.change),
      [
        "Demote dr: every pod discards its data and copies prod (10.0.0.7:6379) again (a full sync).",
        `Demotion token (status.promotion.replicationId): ${RUN_ID}`,
        "Discarded: every write made on dr since its promotion: unknown (the controller has no offset of the leader on the promoted history).",
        "",
        "API change (JSON merge patch of redisclusters.redis.io production/dr):",
        `  {"spec":{"replicaMode":{"promote":false,"demotionToken":"${RUN_ID}"}}}`,
        "The same change with kubectl:",
        `  kubectl -n production patch rediscluster dr --type=merge -p '{"spec":{"replicaMode":{"promote":false,"demotionToken":"${RUN_ID}"}}}'`,
        "",
      ].join("\n"),
    );
  });
});
