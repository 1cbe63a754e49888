/**
 * Issue 6 end to end on the sandbox: a DR cluster replicating over TLS from a TLS source (a real
 * redis-server with a generated CA), across a rotation of its tlsSecret (no pod or controller restart), and
 * a DR cluster whose tlsSecret trusts another CA (the link stays down; the status says why).
 * Loopback range 127.25.0.0/16 (sandbox range 25; the source: 127.25.60.1).
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { RedisCluster, RedisClusterSpec } from "../../../schemas/generated/rediscluster.ts";
import { startTestCluster } from "../../../hack/k8s/testing.ts";
import { waitFor, type TestCluster } from "../../../hack/sandbox/testing.ts";
import { ioredisAdminFactory } from "../../../controller/redis/ioredis-admin.ts";
import { AdminPool } from "../../../controller/replication/context.ts";
import { RedisProcess } from "../../support/redis-process.ts";
import { createTestCertificates, type TestCertificates } from "../../support/tls.ts";

const SOURCE_PASSWORD = "issue6-source-pw-8812";
const PASSWORD = "issue6-dr-pw-2290";
const NS = "default";
const group = { group: "redis.io", version: "v1", namespace: NS, plural: "redisclusters" };

const ours = createTestCertificates(["IP:127.25.60.1"]);
const foreign = createTestCertificates();
const source = new RedisProcess({ host: "127.25.60.1", password: SOURCE_PASSWORD, tls: ours });
let sb: TestCluster;
let custom: CustomObjectsApi;
let core: CoreV1Api;

before(async () => {
  await source.start();
  // SECRET_REFRESH_SECONDS: the rotated tlsSecret is read again within a second.
  sb = await startTestCluster({
    range: 25,
    controller: true,
    operatorEnv: { RESYNC_SECONDS: "1", SECRET_REFRESH_SECONDS: "1" },
  });
  custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
  core = sb.kubeConfig.makeApiClient(CoreV1Api);
  for (const [name, password] of [
    ["source-auth", SOURCE_PASSWORD],
    ["dr-auth", PASSWORD],
  ] as const) {
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name, namespace: NS }, stringData: { password } },
    });
  }
});
after(async () => {
  await sb?.stop();
  await source.stop();
  rmSync(ours.dir, { recursive: true, force: true });
  rmSync(foreign.dir, { recursive: true, force: true });
});

const tlsSecret = (name: string, certificates: TestCertificates) => ({
  metadata: { name, namespace: NS },
  stringData: certificates.secretData(),
});

const drSpec = (tlsSecretName: string): RedisClusterSpec => ({
  instances: 2,
  authSecret: { name: "dr-auth" },
  tlsSecret: { name: tlsSecretName },
  replicaMode: {
    enabled: true,
    source: {
      host: source.host,
      port: source.port,
      clusterName: "tls-source",
      authSecretName: "source-auth",
    },
  },
});

async function get(name: string): Promise<RedisCluster> {
  return (await custom.getNamespacedCustomObject({ ...group, name })) as RedisCluster;
}

async function create(name: string, spec: RedisClusterSpec): Promise<void> {
  await custom.createNamespacedCustomObject({
    ...group,
    body: { apiVersion: "redis.io/v1", kind: "RedisCluster", metadata: { name, namespace: NS }, spec },
  });
}

async function keyCount(pod: string): Promise<number> {
  const client = new Redis({
    host: sb.podIP(pod),
    port: 6379,
    password: PASSWORD,
    tls: { ca: [ours.ca], checkServerIdentity: () => undefined },
    retryStrategy: () => null,
    maxRetriesPerRequest: 1,
  });
  client.on("error", () => undefined);
  try {
    return await client.dbsize();
  } catch {
    return -1;
  } finally {
    client.disconnect();
  }
}

/** The SHA-256 fingerprints of the certificates the pods serve now. */
async function served(pods: readonly string[]): Promise<string> {
  const pool = new AdminPool(ioredisAdminFactory());
  try {
    const prints = await Promise.all(
      pods.map((pod) =>
        pool
          .get({ host: sb.podIP(pod) ?? "", port: 6379, password: PASSWORD, tls: { ca: ours.ca } })
          .serverCertificateFingerprint()
          .catch(() => undefined),
      ),
    );
    return prints.join();
  } finally {
    await pool.closeAll();
  }
}

const restarts = async (pod: string) =>
  (await core.readNamespacedPod({ name: pod, namespace: NS })).status?.containerStatuses?.[0]?.restartCount;

describe("TLS replication from a TLS source", () => {
  it("replicates over TLS and keeps replicating across a rotation of the tlsSecret", async () => {
    const writer = source.client();
    try {
      for (let i = 0; i < 30; i++) await writer.set(`k-${i}`, "v");
      await core.createNamespacedSecret({ namespace: NS, body: tlsSecret("dr-tls", ours) });
      await create("dr", drSpec("dr-tls"));
      await waitFor(async () => (await keyCount("dr-0")) === 30 && (await keyCount("dr-1")) === 30, {
        timeoutMs: 60_000,
        what: "every key on both pods",
      });
      const before = ours.fingerprint();
      assert.equal(await served(["dr-0", "dr-1"]), `${before},${before}`);

      // Rotation: new certificates from the same CA, on the source and in the Secret.
      ours.reissue();
      const rotated = ours.fingerprint();
      await writer.config("SET", "tls-cert-file", ours.certFile);
      await writer.config("SET", "tls-key-file", ours.keyFile);
      await core.replaceNamespacedSecret({ name: "dr-tls", namespace: NS, body: tlsSecret("dr-tls", ours) });
      await waitFor(async () => (await served(["dr-0", "dr-1"])) === `${rotated},${rotated}`, {
        timeoutMs: 60_000,
        what: "both pods serving the rotated certificate",
      });
      // Every replication link is cut: the pods reconnect with the rotated certificates.
      await writer.call("CLIENT", "KILL", "TYPE", "replica");
      for (let i = 0; i < 10; i++) await writer.set(`after-${i}`, "v");
      await waitFor(async () => (await keyCount("dr-0")) === 40 && (await keyCount("dr-1")) === 40, {
        timeoutMs: 60_000,
        what: "writes after the rotation replicated",
      });
      await waitFor(
        async () =>
          (await get("dr")).status?.conditions?.find((c) => c.type === "ReplicationHealthy")?.status ===
          "True",
        { what: "healthy again" },
      );
      assert.deepEqual([await restarts("dr-0"), await restarts("dr-1")], [0, 0]);
    } finally {
      writer.disconnect();
    }
  });

  it("with a tlsSecret from another CA the link stays down and the status says why", async () => {
    await core.createNamespacedSecret({ namespace: NS, body: tlsSecret("foreign-tls", foreign) });
    await create("foreign", drSpec("foreign-tls"));
    const message = await waitFor(
      async () => {
        const healthy = (await get("foreign")).status?.conditions?.find(
          (c) => c.type === "ReplicationHealthy",
        );
        return healthy?.status === "False" && healthy.message.includes("TLS with source")
          ? healthy.message
          : undefined;
      },
      { timeoutMs: 60_000, what: "the condition explaining the TLS failure" },
    );
    assert.match(
      message,
      /TLS with source tls-source \(127\.25\.60\.1:6379\) failed: .*certificate.*\. Its certificate must be valid and signed by a CA in ca\.crt of spec\.tlsSecret$/,
    );
    assert.equal((await get("foreign")).status?.replication?.linkStatus, "Down");
  });
});
