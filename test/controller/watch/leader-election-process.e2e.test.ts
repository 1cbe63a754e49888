/**
 * Two controller processes (controller/main.ts --leader-elect, unchanged) against the sandbox: one leads and
 * reconciles, the other waits; the leader killed, the other takes over; a leader whose Lease is taken exits.
 * Loopback range 127.68.0.0/16.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AppsV1Api, CoordinationV1Api, CustomObjectsApi, V1MicroTime } from "@kubernetes/client-node";
import type { OperatorProcess } from "../../../hack/sandbox/operator.ts";
import { startSandbox, waitFor, type TestSandbox } from "../../../hack/sandbox/testing.ts";

const LEASE = { namespace: "redis-dr-system", name: "redis-dr-controller" };

let sb: TestSandbox;
let leases: CoordinationV1Api;

before(async () => {
  sb = await startSandbox({
    range: 68,
    controllerArgs: [
      "--leader-elect",
      // Short timings so a takeover happens in seconds (the defaults are client-go's 15/10/2).
      "--leader-elect-lease-duration",
      "4",
      "--leader-elect-renew-deadline",
      "3",
      "--leader-elect-retry-period",
      "0.5",
    ],
    operatorEnv: { RESYNC_SECONDS: "1" },
  });
  leases = sb.kubeConfig.makeApiClient(CoordinationV1Api);
});
after(() => sb?.stop());

const holder = async () => (await leases.readNamespacedLease(LEASE)).spec?.holderIdentity;

/** The controller process' log lines, parsed (pino JSON). */
function logOf(name: string): { level: number; msg: string; reason?: string }[] {
  let text = "";
  try {
    text = readFileSync(join(sb.dir, "logs", `${name}.log`), "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { level: number; msg: string; reason?: string });
}

async function createCluster(name: string): Promise<void> {
  await sb.kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: "redis.io",
    version: "v1",
    namespace: "default",
    plural: "redisclusters",
    body: {
      apiVersion: "redis.io/v1",
      kind: "RedisCluster",
      metadata: { name, namespace: "default" },
      spec: { instances: 1 },
    },
  });
}

async function statefulSetCreated(name: string): Promise<void> {
  const apps = sb.kubeConfig.makeApiClient(AppsV1Api);
  await waitFor(
    async () => (await apps.readNamespacedStatefulSet({ namespace: "default", name })) !== undefined,
    {
      timeoutMs: 60_000,
      what: `StatefulSet ${name}, made by the leading controller`,
    },
  );
}

describe("controller processes with --leader-elect", () => {
  let second: OperatorProcess;

  it("one takes the Lease and reconciles; a second one waits", async () => {
    await sb.startController();
    await waitFor(async () => (await holder()) === "redis-dr-controller-0", {
      timeoutMs: 60_000,
      what: "redis-dr-controller-0 to hold the Lease",
    });
    await createCluster("first");
    await statefulSetCreated("first");
    // Its reconcile counter, on its /metrics, counts that reconcile once it is over.
    await waitFor(
      async () =>
        /^redis_dr_controller_reconcile_total\{result="(success|requeue)"\} [1-9]\d*$/m.test(
          await (await fetch(`http://127.0.0.1:${sb.sandbox.controllerMetricsPort}/metrics`)).text(),
        ),
      { timeoutMs: 60_000, what: "a reconcile counted on /metrics" },
    );

    second = await sb.sandbox.startControllerReplica("redis-dr-controller-1");
    await waitFor(
      () =>
        logOf("redis-dr-controller-1").some(
          (l) => l.msg === "another controller leads; waiting for the Lease",
        ),
      { timeoutMs: 60_000, what: "redis-dr-controller-1 to wait for the Lease" },
    );
    assert.equal(await holder(), "redis-dr-controller-0");
    assert.equal(
      logOf("redis-dr-controller-1").some((l) => l.msg === "controller started"),
      false,
    );
  });

  it("the second takes over once the leader is killed, and reconciles", async () => {
    const transitions = (await leases.readNamespacedLease(LEASE)).spec?.leaseTransitions ?? 0;
    sb.killController("SIGKILL");
    await waitFor(async () => (await holder()) === "redis-dr-controller-1", {
      timeoutMs: 60_000,
      what: "redis-dr-controller-1 to take the Lease over",
    });
    assert.equal((await leases.readNamespacedLease(LEASE)).spec?.leaseTransitions, transitions + 1);
    await createCluster("second");
    await statefulSetCreated("second");
  });

  it("a leader whose Lease is taken from it exits at once, saying why", async () => {
    const lease = await leases.readNamespacedLease(LEASE);
    await leases.replaceNamespacedLease({
      ...LEASE,
      body: {
        ...lease,
        spec: { ...lease.spec, holderIdentity: "someone-else", renewTime: new V1MicroTime(Date.now()) },
      },
    });
    await waitFor(() => !second.running, { timeoutMs: 30_000, what: "redis-dr-controller-1 to exit" });
    const fatal = logOf("redis-dr-controller-1").filter((l) => l.level === 60);
    assert.deepEqual(
      fatal.map((l) => [l.msg, l.reason]),
      [
        [
          "lost the leader Lease; exiting at once so that a single controller acts",
          "another candidate holds the Lease",
        ],
      ],
    );
  });

  it("a leader stopped gracefully gives the Lease up for its successor", async () => {
    await sb.startController();
    await waitFor(async () => (await holder()) === "redis-dr-controller-0", {
      timeoutMs: 60_000,
      what: "redis-dr-controller-0 to take the expired Lease",
    });
    await sb.stopController();
    assert.equal(await holder(), "");
    assert.equal(logOf("controller").filter((l) => l.msg === "released the leader Lease").length, 1);
  });
});
