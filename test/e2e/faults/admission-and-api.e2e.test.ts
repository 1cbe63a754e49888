/**
 * Faults on the Kubernetes side: referenced Secrets deleted after admission, concurrent conflicting writes
 * from two clients, and the admission webhook down (failurePolicy: Fail refuses applies; with the webhook
 * configurations gone too, the CRD's CEL rule still refuses reverting a promotion). Each asserts that no key
 * replicated before the fault is lost, that status tells the truth, and that everything recovers.
 * Loopback range 127.37.0.0/16.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { condition } from "../../../hack/lib/observe.ts";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { RedisProcess } from "../../support/redis-process.ts";
import {
  applyReplicating,
  everyPodHolds,
  fullSyncsServed,
  podNames,
  promotionCompleted,
  redisClusterManifest,
  replicaSpec,
  replicating,
  startRegion,
  untilCluster,
  waitFor,
  writeKeys,
  type Region,
} from "../../support/region-fixture.ts";
import { assertNothingLost, trackScenarios } from "./ledger.ts";

trackScenarios();

const NS = "default";
const SOURCE_PASSWORD = "east-pw-37";
const CLUSTER_PASSWORD = "west-pw-37";
const pods = podNames("dr", 3);
const source = new RedisProcess({ host: "127.37.60.1", password: SOURCE_PASSWORD });
const promote = [
  "patch",
  "rediscluster",
  "dr",
  "--type=merge",
  "-p",
  '{"spec":{"replicaMode":{"promote":true}}}',
];
const naiveRevert = [
  "patch",
  "rediscluster",
  "dr",
  "--type=merge",
  "-p",
  '{"spec":{"replicaMode":{"promote":false}}}',
];

let region: Region;
let replicated: string[] = [];

before(async () => {
  await source.start();
  // A Secret deleted while the cluster is healthy is read again after --secret-refresh-seconds (60 s by
  // default; at once while the cluster is unwell): 2 s here, so the deletion cases see it in seconds.
  region = await startRegion(37, { operatorEnv: { SECRET_REFRESH_SECONDS: "2" } });
  await region.kubectl.applyPasswordSecret(NS, "east-auth", SOURCE_PASSWORD);
  await region.kubectl.applyPasswordSecret(NS, "dr-auth", CLUSTER_PASSWORD);
  replicated = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "seed", 1000);
  await applyReplicating(
    region,
    NS,
    "dr",
    replicaSpec(3, "dr-auth", { host: source.host, clusterName: "east", authSecretName: "east-auth" }),
    { pods, password: CLUSTER_PASSWORD, keys: replicated },
  );
});
after(async () => {
  await region?.stop();
  await source.stop();
});

const secretsCondition = async () => condition(await region.view(NS).cluster("dr"), "SecretsAvailable");

describe("faults on the Kubernetes side", () => {
  it("the source's Secret deleted after admission: SecretsAvailable False and an Event, the link is left replicating; restored, all clear", async (t) => {
    const view = region.view(NS);
    await region.kubectl.ok(["delete", "secret", "east-auth"]);
    try {
      const missing = await waitFor(
        async () => {
          const c = await secretsCondition();
          return c?.status === "False" ? c : undefined;
        },
        { what: "SecretsAvailable False" },
      );
      assert.equal(
        missing.message,
        "Secret east-auth not found (spec.replicaMode.source.authSecretName): the replication link is left as it is",
      );
      await waitFor(
        async () =>
          (await view.events("dr")).some((e) => e.type === "Warning" && e.reason === "SecretMissing"),
        {
          what: "a SecretMissing Event",
        },
      );
      // Left as it is: writes on the source still arrive.
      const meanwhile = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "secret-gone", 100);
      replicated = [...replicated, ...meanwhile];
      await everyPodHolds(view, pods, CLUSTER_PASSWORD, replicated);
    } finally {
      await region.kubectl.applyPasswordSecret(NS, "east-auth", SOURCE_PASSWORD);
    }
    await waitFor(async () => (await secretsCondition())?.status === "True", {
      what: "SecretsAvailable True",
    });
    await assertNothingLost(t, { view, pods, password: CLUSTER_PASSWORD, keys: replicated });
  });

  it("the cluster's own Secret deleted after admission: SecretsAvailable False naming spec.authSecret and an Event, the pods keep their data; restored, all clear", async (t) => {
    const view = region.view(NS);
    await region.kubectl.ok(["delete", "secret", "dr-auth"]);
    try {
      const missing = await waitFor(
        async () => {
          const c = await secretsCondition();
          return c?.status === "False" ? c : undefined;
        },
        { what: "SecretsAvailable False" },
      );
      assert.equal(
        missing.message,
        "Secret dr-auth not found (spec.authSecret): the cluster's pods cannot start or be administered",
      );
      const ready = condition(await view.cluster("dr"), "Ready");
      assert.deepEqual(
        [ready?.status, ready?.reason, ready?.message],
        [
          "False",
          "Blocked",
          `Secret dr-auth not found (spec.authSecret): the cluster's pods cannot start or be administered`,
        ],
      );
      await waitFor(
        async () =>
          (await view.events("dr")).some(
            (e) => e.reason === "SecretMissing" && e.message === missing.message,
          ),
        { what: "a SecretMissing Event naming dr-auth" },
      );
      await everyPodHolds(view, pods, CLUSTER_PASSWORD, replicated, 5_000);
    } finally {
      await region.kubectl.applyPasswordSecret(NS, "dr-auth", CLUSTER_PASSWORD);
    }
    await untilCluster(
      view,
      "dr",
      "all clear again",
      (c) =>
        condition(c, "SecretsAvailable")?.status === "True" &&
        condition(c, "Ready")?.status === "True" &&
        replicating(c),
    );
    await assertNothingLost(t, { view, pods, password: CLUSTER_PASSWORD, keys: replicated });
  });

  it("two clients replace the cluster from the same resourceVersion: one wins, the other gets 409 Conflict, status follows the winner", async (t) => {
    const view = region.view(NS);
    // The controller's status writes also move the resourceVersion: when one lands between the read and the
    // two replaces, both are (rightly) refused, and the two clients read and race again.
    const race = async () => {
      const current = JSON.parse(
        (await region.kubectl.ok(["get", "rediscluster", "dr", "-o", "json"])).stdout,
      ) as RedisCluster;
      const withReplicaMode = (change: Record<string, unknown>) =>
        JSON.stringify({
          ...current,
          status: undefined,
          spec: { ...current.spec, replicaMode: { ...current.spec.replicaMode, ...change } },
        });
      return Promise.all([
        region.kubectl.run(["replace", "-f", "-"], withReplicaMode({ promote: true })),
        region.kubectl.run(["replace", "-f", "-"], withReplicaMode({ topology: "cascade" })),
      ]);
    };
    const [promoting, cascading] = await waitFor(
      async () => {
        const runs = await race();
        return runs.some((r) => r.code === 0) ? runs : undefined;
      },
      { what: "a race in which one replace is accepted", timeoutMs: 30_000 },
    );
    const outcomes = [promoting, cascading].map((r) => r.code === 0);
    assert.deepEqual(
      outcomes.filter(Boolean).length,
      1,
      `exactly one replace succeeds: ${promoting.stderr} ${cascading.stderr}`,
    );
    const loser = promoting.code === 0 ? cascading : promoting;
    assert.match(
      loser.stderr,
      /Operation cannot be fulfilled on redisclusters\.redis\.io "dr": the object has been modified/,
    );
    if (promoting.code === 0) {
      await untilCluster(view, "dr", "promotion completed", promotionCompleted);
      assert.equal((await view.cluster("dr")).spec.replicaMode?.topology, "direct");
    } else {
      // Cascade: the leader follows the source, the others follow the leader.
      await waitFor(
        async () => {
          for (const pod of ["dr-1", "dr-2"]) {
            const info = await view.info(pod, CLUSTER_PASSWORD, "replication");
            if (info["master_host"] !== region.sb.podIP("dr-0", NS) || info["master_link_status"] !== "up")
              return false;
          }
          return true;
        },
        { what: "dr-1 and dr-2 following dr-0", timeoutMs: 30_000 },
      );
      assert.equal((await view.cluster("dr")).spec.replicaMode?.promote, undefined);
    }
    await assertNothingLost(t, { view, pods, password: CLUSTER_PASSWORD, keys: replicated });
  });

  it("two clients promote at the same moment: both accepted, one promotion, no full resync, nothing lost", async (t) => {
    const view = region.view(NS);
    const before = await view.cluster("dr");
    if (before.status?.promotion?.phase === "Completed") {
      // The previous race was won by the promotion: go back to replica mode first.
      const token = before.status.promotion.replicationId ?? "";
      await region.kubectl.ok([
        "patch",
        "rediscluster",
        "dr",
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { replicaMode: { promote: false, demotionToken: token } } }),
      ]);
      await untilCluster(
        view,
        "dr",
        "demoted",
        (c) =>
          c.status?.lastDemotion?.completedAt !== undefined &&
          replicating(c) &&
          c.status.replication?.lagBytes === 0,
      );
      await everyPodHolds(view, pods, CLUSTER_PASSWORD, replicated);
    }
    const fullBefore = await fullSyncsServed(view, pods, CLUSTER_PASSWORD);
    const runs = await Promise.all([region.kubectl.run(promote), region.kubectl.run(promote)]);
    assert.deepEqual(
      runs.map((r) => r.code),
      [0, 0],
    );
    const promoted = await untilCluster(view, "dr", "promotion completed", promotionCompleted);
    const info = await view.info("dr-0", CLUSTER_PASSWORD, "replication");
    assert.equal(promoted.status?.promotion?.replicationId, info["master_replid"]);
    await waitFor(
      async () => (await view.info("dr-0", CLUSTER_PASSWORD, "replication"))["connected_slaves"] === "2",
      {
        what: "2 replicas on dr-0",
      },
    );
    const fullAfter = await fullSyncsServed(view, pods, CLUSTER_PASSWORD);
    await assertNothingLost(t, {
      view,
      pods,
      password: CLUSTER_PASSWORD,
      keys: replicated,
      fullResyncs: fullAfter - fullBefore,
    });
    assert.equal(fullAfter, fullBefore);
  });

  it("the webhook down: failurePolicy Fail refuses applies; without the webhook configurations the CRD's CEL rule still refuses the revert; restored, the confirmed demotion works", async (t) => {
    const view = region.view(NS);
    const promoted = await view.cluster("dr");
    const token = promoted.status?.promotion?.replicationId ?? "";
    assert.match(token, /^[0-9a-f]{40}$/);
    await region.sb.stopWebhook();
    try {
      const create = await region.kubectl.refused(
        ["apply", "-f", "-"],
        JSON.stringify(
          redisClusterManifest(
            "dr2",
            NS,
            replicaSpec(1, "dr-auth", {
              host: source.host,
              clusterName: "east",
              authSecretName: "east-auth",
            }),
          ),
        ),
      );
      assert.match(create, /failed calling webhook "mutate\.redisclusters\.redis\.io"/);
      assert.equal((await region.kubectl.run(["get", "rediscluster", "dr2"])).code, 1);
      assert.match(await region.kubectl.refused(naiveRevert), /failed calling webhook/);

      // A broken installation (or an administrator) removes the webhook configurations: the CEL rule remains.
      await region.kubectl.ok(["delete", "mutatingwebhookconfiguration", "redis-dr-mutating"]);
      await region.kubectl.ok(["delete", "validatingwebhookconfiguration", "redis-dr-validating"]);
      const cel = await region.kubectl.refused(naiveRevert);
      assert.ok(
        cel.includes(
          `reverting a completed promotion discards every write made since; to confirm, set spec.replicaMode.demotionToken to "${token}" in the same request`,
        ),
        cel,
      );
      const still = await view.cluster("dr");
      assert.equal(still.spec.replicaMode?.promote, true);
      assert.equal(condition(still, "ReplicaMode")?.reason, "Promoted");
      assert.equal((await view.info("dr-0", CLUSTER_PASSWORD, "replication"))["role"], "master");
    } finally {
      await region.sb.startWebhook();
    }
    const demote = JSON.stringify({ spec: { replicaMode: { promote: false, demotionToken: token } } });
    // The webhook reports ready a moment before its admission port listens (see the report): wait until a
    // server-side dry run of the demotion is admitted.
    await waitFor(
      async () =>
        (
          await region.kubectl.run([
            "patch",
            "rediscluster",
            "dr",
            "--type=merge",
            "--dry-run=server",
            "-p",
            demote,
          ])
        ).code === 0,
      { what: "the webhook admitting requests again" },
    );
    assert.ok(
      (await region.kubectl.refused(naiveRevert)).includes(`-p '${demote}'`),
      "the webhook's command",
    );
    await region.kubectl.ok(["patch", "rediscluster", "dr", "--type=merge", "-p", demote]);
    await untilCluster(
      view,
      "dr",
      "demoted",
      (c) =>
        c.status?.lastDemotion?.replicationId === token &&
        c.status.lastDemotion.completedAt !== undefined &&
        replicating(c),
    );
    await assertNothingLost(t, { view, pods, password: CLUSTER_PASSWORD, keys: replicated });
  });
});
