/**
 * Issue 16 end to end: the pods' ACL users. A cluster whose Secret was made from a file (its password ends
 * with a newline) runs, replicates and is administered; the application's password reads and writes data but
 * cannot read the replication password or change configuration; the controller's users Secret is owned by
 * the RedisCluster; no password is in redis-server's environment, in Events or in status.
 * Loopback range 127.46.0.0/16 (sandbox range 46); on the real back end 10.46.0.0/16.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import { startTestCluster } from "../../../hack/k8s/testing.ts";
import { waitFor, type TestCluster } from "../../../hack/sandbox/testing.ts";

const NS = "default";
const PASSWORD = "e2e-users-pw-6190";
const group = { group: "redis.io", version: "v1", namespace: NS, plural: "redisclusters" };

let sb: TestCluster;
let custom: CustomObjectsApi;
let core: CoreV1Api;

before(async () => {
  sb = await startTestCluster({ range: 46, controller: true, operatorEnv: { RESYNC_SECONDS: "1" } });
  custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
  core = sb.kubeConfig.makeApiClient(CoreV1Api);
});
after(async () => {
  await sb?.stop();
});

async function onPod<T>(
  pod: string,
  login: { username?: string; password: string },
  run: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis({
    host: sb.podIP(pod),
    port: 6379,
    ...login,
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

const message = (promise: Promise<unknown>) =>
  promise.then(
    () => "accepted",
    (error: Error) => error.message,
  );

describe("the Redis users of a cluster", () => {
  it("a password Secret made from a file (final newline) works the same in the pods and the controller", async () => {
    // As `kubectl create secret generic guarded-auth --from-file=password=./pw` with pw ending in "\n".
    await core.createNamespacedSecret({
      namespace: NS,
      body: {
        metadata: { name: "guarded-auth", namespace: NS },
        data: { password: Buffer.from(`${PASSWORD}\n`).toString("base64") },
      },
    });
    await custom.createNamespacedCustomObject({
      ...group,
      body: {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: "guarded", namespace: NS },
        spec: { instances: 2, authSecret: { name: "guarded-auth" } },
      },
    });
    // The controller administers the pods (as its admin user) and links the replica to the leader (as the
    // replication user): both need the pods to have read the same passwords as the controller.
    const cluster = await waitFor(
      async () => {
        const object = (await custom.getNamespacedCustomObject({
          ...group,
          name: "guarded",
        })) as RedisCluster;
        return object.status?.currentPrimary === "guarded-0" && object.status.readyInstances === 2 && object;
      },
      { timeoutMs: 90_000, what: "guarded formed" },
    );
    await onPod("guarded-0", { password: PASSWORD }, async (c) => {
      assert.equal(await c.set("written-by-the-app", "1"), "OK");
    });
    await waitFor(
      () =>
        onPod("guarded-1", { password: PASSWORD }, async (c) => (await c.get("written-by-the-app")) === "1"),
      { what: "the write replicated to guarded-1" },
    );

    const users = await core.readNamespacedSecret({ name: "guarded-redis-dr-users", namespace: NS });
    assert.deepEqual(
      users.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]),
      [["RedisCluster", "guarded", cluster.metadata?.uid, true]],
    );
    assert.deepEqual(Object.keys(users.data ?? {}).sort(), ["admin", "replication", "sentinel"]);
    const admin = Buffer.from(users.data?.admin ?? "", "base64").toString();
    const replication = Buffer.from(users.data?.replication ?? "", "base64").toString();
    assert.deepEqual(
      await onPod("guarded-1", { username: "redis-dr-admin", password: admin }, async (c) => [
        await c.config("GET", "masteruser"),
        await c.config("GET", "masterauth"),
      ]),
      [
        ["masteruser", "redis-dr-replication"],
        ["masterauth", replication],
      ],
    );

    // Nothing secret in status or Events.
    const events = await core.listNamespacedEvent({ namespace: NS });
    const visible = JSON.stringify([cluster.status, events.items.map((e) => e.message)]);
    for (const secret of [PASSWORD, admin, replication]) assert.equal(visible.includes(secret), false);
  });

  it("the application's password cannot read the replication password or change configuration", async () => {
    const refusals = await onPod("guarded-0", { password: PASSWORD }, async (c) => [
      await message(c.config("GET", "masterauth")),
      await message(c.call("ACL", "LIST")),
      await message(c.config("SET", "maxmemory", "1")),
      await message(c.call("REPLICAOF", "NO", "ONE")),
      await message(c.call("SHUTDOWN", "NOSAVE")),
    ]);
    const refused = (command: string) =>
      `NOPERM this user has no permissions to run the '${command}' command`;
    assert.deepEqual(refusals, [
      refused("config|get"),
      refused("acl|list"),
      refused("config|set"),
      refused("replicaof"),
      refused("shutdown"),
    ]);
    // The runbook's way still works: INFO with REDISCLI_AUTH from the container's REDIS_PASSWORD.
    const info = await sb.exec("guarded-1", NS, [
      "sh",
      "-c",
      'REDISCLI_AUTH="$(printf %s "$REDIS_PASSWORD")" redis-cli INFO replication',
    ]);
    assert.match(info.output, /master_link_status:up/);
  });

  it("leaves no REDIS_PASSWORD in redis-server's environment", async () => {
    const run = await sb.exec("guarded-0", NS, [
      "sh",
      "-c",
      'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = redis-server ] || continue; ' +
        "echo server; tr '\\0' '\\n' < $p/environ | grep -c '^REDIS_PASSWORD=' || true; done",
    ]);
    assert.equal(run.output.trim(), "server\n0");
  });
});
