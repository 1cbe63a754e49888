/**
 * Issue 15, item 5: Sentinel protection from the first second. A new `mode: sentinel` primary cluster whose
 * primary hangs (SIGSTOP of its redis-server, its Sentinel keeps running) as soon as its replicas hold the
 * first keys — seconds after the pods are Ready, before any resync period of the controller has passed — is
 * failed over by Sentinel: a replica holding every key is elected, the leader label and currentPrimary follow
 * it, it takes writes, and the hung pod rejoins as its replica when it resumes, with nothing lost.
 * Loopback range 127.80.0.0/16 (10.80/16 on the real back end).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { condition, redisClient } from "../../../hack/lib/observe.ts";
import {
  podNames,
  redisClusterManifest,
  startRegion,
  untilCluster,
  waitFor,
  writeKeys,
  type Region,
} from "../../support/region-fixture.ts";
import { assertNothingLost, trackScenarios } from "./ledger.ts";

trackScenarios();

const NS = "default";
const PASSWORD = "guard-pw-80";
const NAME = "guard";
const pods = podNames(NAME, 3);

let region: Region;

before(async () => {
  region = await startRegion(80, { webhook: false });
  await region.kubectl.applyPasswordSecret(NS, "guard-auth", PASSWORD);
});
after(async () => {
  await region?.stop();
});

describe("Sentinel protection from the first second", () => {
  it("a primary that hangs right after its replicas' first copy is failed over by Sentinel, nothing lost", async (t) => {
    const view = region.view(NS);
    await region.kubectl.apply([
      redisClusterManifest(NAME, NS, { instances: 3, mode: "sentinel", authSecret: { name: "guard-auth" } }),
    ]);
    for (const pod of pods) await region.sb.waitForPodReady(pod, NS, 60_000);
    const readyAt = Date.now();

    // The pods boot parked; the designated leader takes writes once the controller made it the primary.
    const acknowledged = new Set<string>();
    const leaderIP = view.podIP(`${NAME}-0`);
    await waitFor(
      async () => {
        const keys = await writeKeys(leaderIP, 6379, PASSWORD, "boot", 100).catch(() => []);
        for (const key of keys) acknowledged.add(key);
        return keys.length === 100;
      },
      { what: `${NAME}-0 taking writes`, timeoutMs: 30_000, intervalMs: 50 },
    );
    // Both replicas hold them (their first copy is complete): a replica can take over without loss.
    const client = redisClient(leaderIP, 6379, PASSWORD);
    try {
      // WAIT answers within its 1 s timeout (the client's command timeout is 3 s).
      await waitFor(async () => (await client.call("WAIT", "2", "1000")) === 2, {
        what: "both replicas acknowledging the keys",
        timeoutMs: 30_000,
        intervalMs: 0,
      });
    } finally {
      client.disconnect();
    }
    region.sb.pausePod(`${NAME}-0`, NS);
    const hungAt = Date.now();
    t.diagnostic(`${NAME}-0 hung ${hungAt - readyAt} ms after its pods were Ready`);

    // A bound, not a speed: Sentinel's first attempt comes 5 s after the hang (down-after-milliseconds); if it
    // finds no electable replica yet (the controller lifts replica-priority 0 after the first copy, and under
    // CI's load that pass can come after the attempt), it retries after twice failover-timeout (60 s).
    const failedOver = await untilCluster(
      view,
      NAME,
      "Sentinel electing another primary",
      (c) => c.status?.currentPrimary !== undefined && c.status.currentPrimary !== `${NAME}-0`,
      180_000,
    ).catch(async (error: unknown) => {
      // What the Sentinels did (their +sdown, +odown, +slave, -failover-abort-… lines) says why none elected.
      for (const pod of pods) {
        const log = await region.kubectl.run(["-n", NS, "logs", pod, "-c", "sentinel", "--tail", "60"]);
        t.diagnostic(`${pod}'s Sentinel:\n${log.stdout}${log.stderr}`);
      }
      throw error;
    });
    const elected = failedOver.status?.currentPrimary ?? "";
    t.diagnostic(`${elected} in status as the primary ${Date.now() - hungAt} ms after the hang`);
    assert.equal((await view.info(elected, PASSWORD, "replication"))["role"], "master");
    // The leader Service selects the pod labelled primary: only the elected one is.
    await waitFor(
      async () => {
        const labelled = await region.kubectl.run([
          "-n",
          NS,
          "get",
          "pods",
          "-l",
          `redis.io/cluster=${NAME},redis.io/role=primary`,
          "-o",
          "jsonpath={.items[*].metadata.name}",
        ]);
        return labelled.stdout.trim() === elected;
      },
      { what: `only ${elected} labelled primary`, timeoutMs: 60_000 },
    );
    const after = await writeKeys(view.podIP(elected), 6379, PASSWORD, "after", 10);
    assert.equal(after.length, 10, `${elected} takes writes`);
    for (const key of after) acknowledged.add(key);

    region.sb.resumePod(`${NAME}-0`, NS);
    await waitFor(
      async () => {
        const info = await view
          .info(`${NAME}-0`, PASSWORD, "replication")
          .catch(() => ({}) as Record<string, string>);
        return info["role"] === "slave" && info["master_link_status"] === "up";
      },
      { what: `${NAME}-0 replicating from ${elected} after it resumed`, timeoutMs: 60_000 },
    );
    // The replicas follow the elected primary, and Sentinel protects it again (a bound, not a speed: under
    // CI's load the replicas' priorities reach every Sentinel late).
    const protectedAgain = await untilCluster(
      view,
      NAME,
      "SentinelProtected True after the failover",
      (c) => condition(c, "SentinelProtected")?.status === "True",
      180_000,
    );
    assert.match(condition(protectedAgain, "SentinelProtected")?.message ?? "", new RegExp(elected));
    await assertNothingLost(t, {
      view,
      pods,
      password: PASSWORD,
      keys: [...acknowledged],
      scenario: "sentinel primary hangs right after its first replica copy",
    });
  });
});
