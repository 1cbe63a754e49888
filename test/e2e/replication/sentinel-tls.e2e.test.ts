/**
 * Sentinel mode with TLS end to end on the sandbox: the Redis pods speak only TLS, so do their Sentinels
 * (to the pods, to each other and to the controller). The primary's process is killed as soon as every
 * Sentinel monitors it and knows both replicas as electable: Sentinel fails over, the controller follows, and
 * no key is lost — a replica is electable (replica-priority above 0) only once it holds the primary's data (a
 * replica still waiting for its first copy, e.g. during repl-diskless-sync-delay, would be elected empty).
 * Loopback range 127.27.0.0/16 (sandbox range 27).
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { startTestCluster } from "../../../hack/k8s/testing.ts";
import { waitFor, type TestCluster } from "../../../hack/sandbox/testing.ts";
import { createTestCertificates } from "../../support/tls.ts";

const PASSWORD = "sentinel-tls-pw-7310";
const NS = "default";
const group = { group: "redis.io", version: "v1", namespace: NS, plural: "redisclusters" };
const certificates = createTestCertificates();

let sb: TestCluster;
let custom: CustomObjectsApi;
let core: CoreV1Api;

before(async () => {
  sb = await startTestCluster({ range: 27, controller: true, operatorEnv: { RESYNC_SECONDS: "1" } });
  custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
  core = sb.kubeConfig.makeApiClient(CoreV1Api);
});
after(async () => {
  await sb?.stop();
  rmSync(certificates.dir, { recursive: true, force: true });
});

const get = async (name: string) =>
  (await custom.getNamespacedCustomObject({ ...group, name })) as RedisCluster;

/** Over TLS (the only way in), verified against the test CA; pods are reached by IP, as the controller does. */
async function onPod<T>(pod: string, run: (client: Redis) => Promise<T>, port = 6379): Promise<T> {
  const client = new Redis({
    host: sb.podIP(pod),
    port,
    // Sentinels too: the application's password discovers the primary there (SENTINEL MASTER, REPLICAS …).
    password: PASSWORD,
    tls: { ca: [certificates.ca], checkServerIdentity: () => undefined },
    retryStrategy: () => null,
    maxRetriesPerRequest: 1,
    commandTimeout: 3000,
  });
  client.on("error", () => undefined);
  try {
    return await run(client);
  } finally {
    client.disconnect();
  }
}

const field = (fields: string[], name: string) => fields[fields.indexOf(name) + 1];

describe("Sentinel mode with tlsSecret", () => {
  it("Sentinels monitor the primary over TLS, see each other, and fail over when its process dies", async () => {
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "redis-password", namespace: NS }, stringData: { password: PASSWORD } },
    });
    await core.createNamespacedSecret({
      namespace: NS,
      body: {
        metadata: { name: "redis-tls", namespace: NS },
        stringData: certificates.secretData(),
      },
    });
    await custom.createNamespacedCustomObject({
      ...group,
      body: {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: "secure", namespace: NS },
        spec: {
          instances: 3,
          mode: "sentinel",
          authSecret: { name: "redis-password" },
          tlsSecret: { name: "redis-tls" },
        },
      },
    });
    await waitFor(async () => (await get("secure")).status?.currentPrimary === "secure-0", {
      timeoutMs: 60_000,
      what: "secure bootstrapped",
    });
    await onPod("secure-0", async (c) => {
      for (let i = 0; i < 20; i++) await c.set(`k-${i}`, "v");
    });

    let last = "";
    await waitFor(
      async () => {
        for (const pod of ["secure-0", "secure-1", "secure-2"]) {
          const fields = await onPod(
            pod,
            async (c) => (await c.call("SENTINEL", "MASTER", "secure")) as string[],
            26379,
          ).catch((error: unknown) => [String(error)]);
          last = `${pod}: ${fields.join(" ")}`;
          if (field(fields, "flags") !== "master") return false;
          if (field(fields, "num-slaves") !== "2" || field(fields, "num-other-sentinels") !== "2")
            return false;
          // Sentinel reads each replica's priority from its INFO (every 10 s).
          const replicas = (await onPod(
            pod,
            async (c) => (await c.call("SENTINEL", "REPLICAS", "secure")) as string[][],
            26379,
          ).catch(() => [])) as string[][];
          last = `${pod}: replica priorities ${replicas.map((r) => field(r, "slave-priority")).join()}`;
          if (replicas.filter((r) => field(r, "slave-priority") !== "0").length !== 2) return false;
        }
        return true;
      },
      { timeoutMs: 60_000, what: "every Sentinel monitoring secure-0 with 2 replicas and 2 other Sentinels" },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; last answer ${last}`);
    });

    sb.killPod("secure-0", NS);
    const elected = await waitFor(
      async () => {
        const primary = (await get("secure")).status?.currentPrimary;
        return primary !== undefined && primary !== "secure-0" ? primary : undefined;
      },
      { timeoutMs: 60_000, what: "a Sentinel failover" },
    );
    assert.equal(await onPod(elected, async (c) => /^role:master/m.test(await c.info("replication"))), true);
    assert.equal(await onPod(elected, (c) => c.dbsize()), 20);
    assert.equal(await onPod(elected, (c) => c.set("after-failover", "v")), "OK");
  });
});
