/**
 * RBAC is exactly what the programs use: each ServiceAccount's effective permissions (followed through its
 * bindings) are compared with the list of API calls the program makes, with no wildcard and no list or watch
 * on Secrets anywhere.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { MANIFESTS, allOf, get, kustomize, list, type KubeObject } from "./helpers.ts";

interface PolicyRule {
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly verbs: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

/**
 * One permission as "verb group/resource", with " in <namespace>" for a namespaced Role and " named <names>"
 * when limited to names. The core group is written "core".
 */
function permissions(rules: readonly PolicyRule[], namespace: string | undefined): string[] {
  return rules.flatMap((rule) =>
    (rule.apiGroups ?? []).flatMap((group) =>
      (rule.resources ?? []).flatMap((resource) =>
        rule.verbs.map((verb) => {
          const scope = namespace === undefined ? "" : ` in ${namespace}`;
          const names = rule.resourceNames === undefined ? "" : ` named ${rule.resourceNames.join(",")}`;
          return `${verb} ${group === "" ? "core" : group}/${resource}${scope}${names}`;
        }),
      ),
    ),
  );
}

/** Everything the ServiceAccount namespace/name may do, through every binding that names it. */
function effectivePermissions(objects: readonly KubeObject[], namespace: string, name: string): string[] {
  const bindings = objects.filter((o) => o.kind === "ClusterRoleBinding" || o.kind === "RoleBinding");
  const granted = bindings.flatMap((binding) => {
    const subjects = list(binding, "subjects");
    const names = subjects.some(
      (s) =>
        get(s, "kind") === "ServiceAccount" && get(s, "name") === name && get(s, "namespace") === namespace,
    );
    if (!names) return [];
    const roleKind = get(binding, "roleRef", "kind");
    const roleName = get(binding, "roleRef", "name");
    const role = objects.find(
      (o) =>
        o.kind === roleKind &&
        o.metadata.name === roleName &&
        (roleKind === "ClusterRole" || o.metadata.namespace === binding.metadata.namespace),
    );
    assert.ok(role, `${binding.kind} ${binding.metadata.name} refers to a missing ${String(roleKind)}`);
    const scope = binding.kind === "RoleBinding" ? binding.metadata.namespace : undefined;
    return permissions(list(role, "rules") as PolicyRule[], scope);
  });
  return [...new Set(granted)].sort();
}

const installation = kustomize(MANIFESTS);
const roles = (objects: readonly KubeObject[]) =>
  objects.filter((o) => o.kind === "ClusterRole" || o.kind === "Role");

describe("RBAC", () => {
  it("the webhook may only get Secrets (by name), in any namespace, and ask who else may", () => {
    assert.deepEqual(effectivePermissions(installation, "redis-dr-system", "redis-dr-webhook"), [
      "create authorization.k8s.io/subjectaccessreviews",
      "get core/secrets",
    ]);
  });

  it("the controller may do exactly what it does, and hold only its own Lease", () => {
    assert.deepEqual(effectivePermissions(installation, "redis-dr-system", "redis-dr-controller"), [
      "create apps/statefulsets",
      "create coordination.k8s.io/leases in redis-dr-system",
      "create core/events",
      "create core/secrets",
      "create core/services",
      "create policy/poddisruptionbudgets",
      "get apps/statefulsets",
      "get coordination.k8s.io/leases in redis-dr-system named redis-dr-controller",
      "get core/secrets",
      "get core/services",
      "get policy/poddisruptionbudgets",
      "get redis.io/redisclusters",
      "list apps/statefulsets",
      "list core/pods",
      "list core/services",
      "list policy/poddisruptionbudgets",
      "list redis.io/redisclusters",
      "patch apps/statefulsets",
      "patch core/pods",
      "patch redis.io/redisclusters/status",
      "update coordination.k8s.io/leases in redis-dr-system named redis-dr-controller",
      "update redis.io/redisclusters/finalizers",
      "watch apps/statefulsets",
      "watch core/pods",
      "watch core/services",
      "watch policy/poddisruptionbudgets",
      "watch redis.io/redisclusters",
    ]);
  });

  it("the controller never writes a RedisCluster's spec", () => {
    const granted = effectivePermissions(installation, "redis-dr-system", "redis-dr-controller");
    for (const verb of ["create", "update", "patch", "delete"]) {
      assert.ok(!granted.includes(`${verb} redis.io/redisclusters`), `controller may ${verb} redisclusters`);
    }
  });

  it("each program's Deployment runs as the ServiceAccount its RBAC is bound to", () => {
    for (const name of ["redis-dr-webhook", "redis-dr-controller"]) {
      const deployment = allOf(installation, "Deployment", name)[0];
      assert.equal(get(deployment, "spec", "template", "spec", "serviceAccountName"), name);
      assert.equal(allOf(installation, "ServiceAccount", name)[0]?.metadata.namespace, "redis-dr-system");
    }
  });

  it("the DR health-check CronJob may only read and patch dr-redis", () => {
    const example = kustomize(path.join(MANIFESTS, "examples/dr-health-check"));
    assert.deepEqual(effectivePermissions(example, "production", "dr-health-check"), [
      "get redis.io/redisclusters in production named dr-redis",
      "patch redis.io/redisclusters in production named dr-redis",
    ]);
    const cronJob = allOf(example, "CronJob", "dr-health-check")[0];
    assert.equal(
      get(cronJob, "spec", "jobTemplate", "spec", "template", "spec", "serviceAccountName"),
      "dr-health-check",
    );
  });

  it("no role anywhere has a wildcard or lets anyone list or watch Secrets", () => {
    const everything = [
      ...roles(installation),
      ...roles(kustomize(path.join(MANIFESTS, "examples/dr-health-check"))),
    ];
    assert.ok(everything.length >= 4);
    for (const role of everything) {
      for (const rule of list(role, "rules") as PolicyRule[]) {
        const fields = [rule.apiGroups, rule.resources, rule.verbs, rule.resourceNames, rule.nonResourceURLs];
        const values = fields.flatMap((field) => field ?? []);
        assert.ok(!values.some((v) => v.includes("*")), `${role.metadata.name} has a wildcard`);
        if (rule.resources?.includes("secrets")) {
          assert.deepEqual(
            rule.verbs.filter((verb) => verb === "list" || verb === "watch"),
            [],
            `${role.metadata.name} may list or watch Secrets`,
          );
        }
      }
    }
  });
});
