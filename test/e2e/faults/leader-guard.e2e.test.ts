/**
 * The designated leader restarted empty while its peers hang (issue 15, item 1): the source is lost, dr-1
 * and dr-2 are SIGSTOPped (no answers, no crash), dr-0's pod is deleted and comes back on a fresh emptyDir,
 * and a promotion is requested. An empty leader judged caught up against the pods that answer would become a
 * primary and the hung pods would copy its emptiness when they resume; instead the leader waits (condition
 * LeaderBlocked, reason UnobservedPods, a Warning Event, the command that overrides it), and the promotion
 * completes from the pods' data once they answer again. Loopback range 127.83.0.0/16 (10.83/16 on the real
 * back end).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { condition } from "../../../hack/lib/observe.ts";
import { RedisProcess } from "../../support/redis-process.ts";
import {
  applyReplicating,
  podNames,
  replicaSpec,
  startRegion,
  untilCluster,
  waitFor,
  writeKeys,
  type Region,
} from "../../support/region-fixture.ts";
import { trackScenarios } from "./ledger.ts";
import { assertPromotedWhole, patchPromote, type DrCluster } from "./promotion-helpers.ts";

trackScenarios();

const NS = "default";
const SOURCE_PASSWORD = "east-pw-83";
const CLUSTER_PASSWORD = "west-pw-83";
const pods = podNames("dr", 3);
const hung = ["dr-1", "dr-2"];
const source = new RedisProcess({ host: "127.83.60.1", password: SOURCE_PASSWORD });

let region: Region;
let dr: DrCluster;
let seeded: string[] = [];
let paused = false;

/** SIGCONT to the hung pods: also from `after`, so a failed assertion never leaves them stopped. */
const resumeHung = () => {
  if (!paused) return;
  for (const pod of hung) region.sb.resumePod(pod, NS);
  paused = false;
};

before(async () => {
  await source.start();
  region = await startRegion(83, { webhook: false });
  dr = { region, namespace: NS, name: "dr", pods, password: CLUSTER_PASSWORD };
  await region.kubectl.applyPasswordSecret(NS, "east-auth", SOURCE_PASSWORD);
  await region.kubectl.applyPasswordSecret(NS, "dr-auth", CLUSTER_PASSWORD);
  seeded = await writeKeys(source.host, 6379, SOURCE_PASSWORD, "seed", 1000);
  // No spec.storage: the pods' data is an emptyDir, so a deleted pod comes back empty.
  const { storage: _storage, ...spec } = replicaSpec(3, "dr-auth", {
    host: source.host,
    clusterName: "east",
    authSecretName: "east-auth",
  });
  await applyReplicating(region, NS, "dr", spec, { pods, password: CLUSTER_PASSWORD, keys: seeded });
});
after(async () => {
  if (region !== undefined) resumeHung();
  await region?.stop();
  await source.stop();
});

describe("the designated leader restarted empty while its peers hang", () => {
  it("an empty leader does not become a primary while dr-1 and dr-2 cannot be asked; once they answer the promotion completes and nothing is lost", async (t) => {
    const view = region.view(NS);
    // The guard applies once the cluster has held data: the pods' offsets on the source's history recorded.
    await untilCluster(view, "dr", "every pod's offset recorded", (c) =>
      pods.every((pod) => (c.status?.lastKnownOffsets ?? []).some((k) => k.pod === pod && k.offset > 0)),
    );
    const runIdBefore = (await view.info("dr-0", CLUSTER_PASSWORD, "server"))["run_id"];

    await source.kill(true); // the primary region is lost
    for (const pod of hung) region.sb.pausePod(pod, NS);
    paused = true;
    try {
      // The leader's pod is replaced: a new emptyDir, so dr-0 restarts with no data on a history of its own.
      await region.kubectl.ok(["-n", NS, "delete", "pod", "dr-0", "--wait=true"]);
      const runId = await waitFor(
        async () => {
          try {
            const server = await view.info("dr-0", CLUSTER_PASSWORD, "server");
            const id = server["run_id"];
            return id !== undefined &&
              id !== runIdBefore &&
              (await view.keys("dr-0", CLUSTER_PASSWORD)).size === 0
              ? id
              : undefined;
          } catch {
            return undefined; // the new pod not answering yet
          }
        },
        { what: "dr-0 back, empty, as a new process", timeoutMs: 120_000, intervalMs: 200 },
      );

      await patchPromote(dr, true);
      const blocked = await untilCluster(
        view,
        "dr",
        "LeaderBlocked True",
        (c) => condition(c, "LeaderBlocked")?.status === "True",
        120_000,
      );
      const message =
        "dr-0 is empty and dr-1, dr-2 cannot be asked: dr-0 does not become a primary until every pod has " +
        "been seen, since those pods may hold data the others lack and would copy dr-0's dataset. To go on " +
        "with the pods that answer, discarding whatever the others hold: " +
        `kubectl annotate rediscluster dr redis.io/confirm-leader=promote:${runId} --overwrite`;
      assert.equal(condition(blocked, "LeaderBlocked")?.reason, "UnobservedPods");
      assert.equal(condition(blocked, "LeaderBlocked")?.message, message);
      const settled = await untilCluster(
        view,
        "dr",
        "status.promotion.message saying why the leader waits",
        (c) => c.status?.promotion?.message === message,
      );
      assert.equal(settled.status?.promotion?.phase, "CatchingUp");
      const warning = (await view.events("dr")).find((e) => e.reason === "LeaderBlocked");
      assert.equal(warning?.type, "Warning");
      assert.equal(warning?.message, message);
      // Give the controller a few reconciles (resync every 2 s) to do the wrong thing.
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      const leader = await view.info("dr-0", CLUSTER_PASSWORD, "replication");
      assert.equal(leader["role"], "slave", "dr-0 is not a primary while dr-1 and dr-2 cannot be asked");
      const still = await view.cluster("dr");
      assert.equal(condition(still, "LeaderBlocked")?.status, "True");
      assert.equal(still.status?.promotion?.phase, "CatchingUp");
    } finally {
      resumeHung();
    }

    // Every pod answers again: the leader catches up from them and the promotion completes, nothing lost.
    const promoted = await assertPromotedWhole(t, dr, seeded, {
      timeoutMs: 180_000,
      note: "dr-0 restarted empty while dr-1 and dr-2 were SIGSTOPped and the source lost",
    });
    assert.equal(condition(promoted, "LeaderBlocked")?.status, "False");
    assert.equal(condition(promoted, "LeaderBlocked")?.reason, "Resolved");
  });
});
