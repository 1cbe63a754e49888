/**
 * The webhook's security checks on a real control plane, with real RBAC and the real SubjectAccessReview API
 * (issue 16): a user may only name Secrets they may `get` themselves (no confused deputy), and that is asked
 * only when a reference changes; `source.host` may not be a loopback, link-local, unspecified or multicast
 * address; and status cannot be edited to drop the demotion token. The restricted user is `alice`, by impersonation (`kubectl --as`), granted only what a Role says.
 * Range 10.72.0.0/16; runs inside the test network namespace (hack/k8s/test.sh).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RealCluster, type CommandResult } from "../../hack/k8s/cluster.ts";
import { REPLICATION_ID_KEPT } from "../../schemas/rediscluster.ts";

const RANGE = 72;
const NAMESPACE = "team-a";

let cluster: RealCluster;

before(async () => {
  cluster = await RealCluster.start({ range: RANGE, operator: true, install: { controllerReplicas: 0 } });
  await ok(["create", "namespace", NAMESPACE]);
  for (const name of ["east-auth", "payments-db"]) {
    await ok(["create", "secret", "generic", name, "-n", NAMESPACE, `--from-literal=password=${name}-pw`]);
  }
  // alice may write RedisClusters in team-a and read no Secret, until a test grants her one.
  await ok([
    "create",
    "role",
    "rediscluster-author",
    "-n",
    NAMESPACE,
    "--verb=get,list,create,update,patch",
    "--resource=redisclusters.redis.io",
  ]);
  await ok([
    "create",
    "rolebinding",
    "alice-authors",
    "-n",
    NAMESPACE,
    "--role=rediscluster-author",
    "--user=alice",
  ]);
});
after(() => cluster?.stop());

const ok = (args: string[], input?: string) => cluster.kubectlOk(args, input);
const run = (args: string[], input?: string): Promise<CommandResult> => cluster.kubectl(args, input);
const asAlice = (args: string[], input?: string) => run(["--as=alice", "--as-group=devs", ...args], input);

const redisCluster = (name: string, spec: Record<string, unknown>) =>
  JSON.stringify({
    apiVersion: "redis.io/v1",
    kind: "RedisCluster",
    metadata: { name, namespace: NAMESPACE },
    spec,
  });

const replicaOf = (name: string, authSecretName: string, host = "redis-east.example.com") =>
  redisCluster(name, {
    instances: 1,
    replicaMode: { enabled: true, source: { host, clusterName: "east", authSecretName } },
  });

const forbiddenSecret = (name: string) =>
  `spec.replicaMode.source.authSecretName: Forbidden: user "alice" may not get Secret "${name}" in namespace ` +
  `"${NAMESPACE}": a RedisCluster may only name Secrets its author may read`;

describe("the webhook asks the API server whether the requesting user may read the Secrets they name", () => {
  it("refuses alice a Secret she may not get, and says the same for one that does not exist", async () => {
    const taken = await asAlice(["create", "-f", "-"], replicaOf("dr-payments", "payments-db"));
    assert.notEqual(taken.status, 0);
    assert.ok(taken.stderr.includes(forbiddenSecret("payments-db")), taken.stderr);
    // Without `get`, alice cannot tell a Secret that exists from one that does not.
    const missing = await asAlice(["create", "-f", "-"], replicaOf("dr-missing", "no-such-secret"));
    assert.notEqual(missing.status, 0);
    assert.ok(missing.stderr.includes(forbiddenSecret("no-such-secret")), missing.stderr);
    assert.ok(!missing.stderr.includes("not found"), missing.stderr);
    const listed = await ok(["get", "rdc", "-n", NAMESPACE, "-o", "name"]);
    assert.equal(listed.trim(), "");
  });

  it("admits alice once a Role lets her get that one Secret, and still refuses the others", async () => {
    await ok([
      "create",
      "role",
      "read-east-auth",
      "-n",
      NAMESPACE,
      "--verb=get",
      "--resource=secrets",
      "--resource-name=east-auth",
    ]);
    await ok([
      "create",
      "rolebinding",
      "alice-east-auth",
      "-n",
      NAMESPACE,
      "--role=read-east-auth",
      "--user=alice",
    ]);
    // RBAC bindings take effect through the API server's informers: wait until alice's own check says yes.
    for (let i = 0; ; i++) {
      const can = await run(["auth", "can-i", "get", "secret/east-auth", "-n", NAMESPACE, "--as=alice"]);
      if (can.stdout.trim() === "yes") break;
      assert.ok(i < 50, "alice was never allowed to get secret east-auth");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const admitted = await asAlice(["create", "-f", "-"], replicaOf("dr-east", "east-auth"));
    assert.equal(admitted.status, 0, admitted.stderr);
    const switched = await asAlice([
      "patch",
      "rdc",
      "dr-east",
      "-n",
      NAMESPACE,
      "--type=merge",
      "-p",
      '{"spec":{"replicaMode":{"source":{"authSecretName":"payments-db"}}}}',
    ]);
    assert.notEqual(switched.status, 0);
    assert.ok(switched.stderr.includes(forbiddenSecret("payments-db")), switched.stderr);
  });

  it("does not ask again on an update that leaves the references alone (a promotion is never blocked by RBAC drift)", async () => {
    await ok(["delete", "rolebinding", "alice-east-auth", "-n", NAMESPACE]);
    for (let i = 0; ; i++) {
      const can = await run(["auth", "can-i", "get", "secret/east-auth", "-n", NAMESPACE, "--as=alice"]);
      if (can.stdout.trim() === "no") break;
      assert.ok(i < 50, "alice kept her access to secret east-auth");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const promoted = await asAlice([
      "patch",
      "rdc",
      "dr-east",
      "-n",
      NAMESPACE,
      "--type=merge",
      "-p",
      '{"spec":{"replicaMode":{"promote":true}}}',
    ]);
    assert.equal(promoted.status, 0, promoted.stderr);
  });
});

describe("source.host may not be a loopback, link-local, unspecified or multicast address", () => {
  for (const host of [
    "169.254.169.254",
    "127.0.0.1",
    "::ffff:127.0.0.1",
    "fe80::1",
    "0.0.0.0",
    "224.0.0.1",
  ]) {
    it(`refuses ${host}, even for the cluster's admin`, async () => {
      const result = await run(["create", "-f", "-"], replicaOf("metadata-probe", "east-auth", host));
      assert.notEqual(result.status, 0);
      assert.ok(
        result.stderr.includes(
          `spec.replicaMode.source.host: Invalid value: "${host}": must not be a loopback, link-local, ` +
            "unspecified or multicast address: the controller sends the source's password to this host",
        ),
        result.stderr,
      );
    });
  }

  it("admits a routable address", async () => {
    const result = await run(["create", "-f", "-"], replicaOf("routable", "east-auth", "35.123.45.67"));
    assert.equal(result.status, 0, result.stderr);
  });
});

describe("status.promotion.replicationId cannot be dropped to bypass the demotion token", () => {
  const TOKEN = "4f1c0b2a9d6e4f3a7b5c1d0e2f4a6b8c9d0e1f2a";
  const status = (args: string[]) =>
    run(["patch", "rdc", "promoted", "-n", NAMESPACE, "--subresource=status", ...args]);

  it("refuses removing or emptying it through the status subresource, with the CRD rule's message", async () => {
    await ok(["create", "-f", "-"], replicaOf("promoted", "east-auth", "35.123.45.67"));
    await ok([
      "patch",
      "rdc",
      "promoted",
      "-n",
      NAMESPACE,
      "--type=merge",
      "-p",
      '{"spec":{"replicaMode":{"promote":true}}}',
    ]);
    // What the controller records when the promotion completes (it runs at 0 replicas here).
    await ok([
      "patch",
      "rdc",
      "promoted",
      "-n",
      NAMESPACE,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { promotion: { phase: "Completed", replicationId: TOKEN } } }),
    ]);
    for (const patch of [
      ["--type=json", "-p", '[{"op":"remove","path":"/status/promotion/replicationId"}]'],
      ["--type=merge", "-p", '{"status":{"promotion":null}}'],
      ["--type=merge", "-p", '{"status":{"promotion":{"replicationId":""}}}'],
      ["--type=json", "-p", '[{"op":"remove","path":"/status"}]'],
    ]) {
      const result = await status(patch);
      assert.notEqual(result.status, 0, patch.join(" "));
      assert.ok(
        result.stderr.includes(`status.promotion.replicationId: Forbidden: ${REPLICATION_ID_KEPT}`),
        result.stderr,
      );
    }
    const kept = await ok([
      "get",
      "rdc",
      "promoted",
      "-n",
      NAMESPACE,
      "-o",
      "jsonpath={.status.promotion.replicationId}",
    ]);
    assert.equal(kept, TOKEN);
  });

  it("lets it go once the spec confirms the demotion with the token (what the controller does then)", async () => {
    await ok([
      "patch",
      "rdc",
      "promoted",
      "-n",
      NAMESPACE,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { replicaMode: { promote: false, demotionToken: TOKEN } } }),
    ]);
    const result = await status(["--type=merge", "-p", '{"status":{"promotion":null}}']);
    assert.equal(result.status, 0, result.stderr);
  });
});
