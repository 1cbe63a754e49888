/**
 * RBAC equals what the programs' code calls. Every Kubernetes API call in webhook/ and controller/ (the
 * @kubernetes/client-node methods, the webhook's own client's get and post, and the informers' list+watch) is
 * mapped to the permission it needs; each program's ServiceAccount must be granted exactly those, plus the few
 * grants the code needs without calling them by name (listed with the reason). A new API call without its
 * RBAC, or RBAC nothing uses, fails here.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { MANIFESTS, REPO_ROOT, get, kustomize, list, type KubeObject } from "./helpers.ts";

/** The API group and resource of each kind the programs call client-node methods for. */
const RESOURCES: Readonly<Record<string, string>> = {
  Secret: "core/secrets",
  Pod: "core/pods",
  Service: "core/services",
  Event: "core/events",
  PersistentVolumeClaim: "core/persistentvolumeclaims",
  StatefulSet: "apps/statefulsets",
  PodDisruptionBudget: "policy/poddisruptionbudgets",
  Lease: "coordination.k8s.io/leases",
  CustomObject: "redis.io/redisclusters", // the only custom resource the programs handle
  SubjectAccessReview: "authorization.k8s.io/subjectaccessreviews",
};

/** client-node method prefixes and the RBAC verb each needs. */
const VERBS: Readonly<Record<string, string>> = {
  read: "get",
  get: "get", // the CustomObjectsApi's reads: getNamespacedCustomObject, getClusterCustomObject
  list: "list",
  create: "create",
  patch: "patch",
  replace: "update",
  delete: "delete",
  deleteCollection: "deletecollection",
};

/**
 * A client-node call on a namespaced resource: `readNamespacedSecret(`, `getNamespacedCustomObject(`,
 * `patchNamespacedCustomObjectStatus(`, `listClusterCustomObject(`, `listPodForAllNamespaces(`. (The
 * programs' own wrappers, like `api.getCluster(` or `api.patchStatus(`, have neither "Namespaced", "Cluster"
 * followed by a kind, nor "ForAllNamespaces" in their names.)
 */
const API_CALL =
  /\.(read|get|list|create|patch|replace|deleteCollection|delete)(?:(?:Namespaced|Cluster)([A-Z][A-Za-z]*?)(Status)?|([A-Z][A-Za-z]*?)ForAllNamespaces)\(/g;
/** A call on a cluster-scoped kind whose method names neither "Namespaced" nor "Cluster": `createSubjectAccessReview(`. */
const UNSCOPED_CALL = /\.(create)(SubjectAccessReview)\(/g;
/**
 * A call of the webhook's own client (webhook/kube/api-client.ts), `api.get(` or `api.post(`, with its path
 * written out: `api.get(\`/api/v1/namespaces/${…}/secrets/${…}\``, `api.post("/apis/authorization.k8s.io/v1/…`.
 * GET reads one object (get); POST creates (create).
 */
const CLIENT_CALL = /\bapi\.(get|post)\(/g;
const CLIENT_PATH_CALL =
  /\bapi\.(get|post)\(\s*[`"]\/(?:api\/v1|apis\/([a-z0-9.-]+)\/v[a-z0-9]+)(?:\/namespaces\/\$\{[^}]*\})?\/([a-z]+)/g;
const CLIENT_VERBS: Readonly<Record<string, string>> = { get: "get", post: "create" };
/**
 * `makeInformer(kubeConfig, \`/api/v1${scope}/pods\`, …)`, or `informer(\`/api/v1${scope}/pods\`, …)` and
 * `metadataOnly(…)` (the controller's wrappers of it, controller/watch/informers.ts): the informer lists and
 * watches that resource.
 */
const INFORMER =
  /(?:makeInformer\(\s*\w+,|\b(?:informer|metadataOnly)\()\s*`\/(api\/v1|apis\/([^/`$]+|\$\{GROUP\})\/[^/`]+)[^`]*\/([^/`]+)`/g;

function sources(folder: string): string[] {
  const directory = path.join(REPO_ROOT, folder);
  return readdirSync(directory, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => readFileSync(path.join(directory, file), "utf8"));
}

/** Every permission (as "verb group/resource") the code of `folder` needs for the API calls it makes. */
function permissionsUsed(folder: string): string[] {
  const used = new Set<string>();
  for (const source of sources(folder)) {
    for (const [call, prefix, namespacedKind, status, allNamespacesKind] of source.matchAll(API_CALL)) {
      const resource = RESOURCES[namespacedKind ?? allNamespacesKind ?? ""];
      assert.ok(resource, `${folder}: no RBAC mapping for the API call ${call}: add its kind to RESOURCES`);
      used.add(`${VERBS[prefix ?? ""]} ${resource}${status === undefined ? "" : "/status"}`);
    }
    for (const [, prefix, kind] of source.matchAll(UNSCOPED_CALL)) {
      used.add(`${VERBS[prefix ?? ""]} ${RESOURCES[kind ?? ""]}`);
    }
    const clientCalls = [...source.matchAll(CLIENT_PATH_CALL)];
    assert.equal(
      clientCalls.length,
      [...source.matchAll(CLIENT_CALL)].length,
      `${folder}: an api.get( or api.post( call without its path written out: the RBAC it needs cannot be read`,
    );
    for (const [, method, group, plural] of clientCalls) {
      used.add(`${CLIENT_VERBS[method ?? ""]} ${group ?? "core"}/${plural}`);
    }
    for (const [call, , group, plural] of source.matchAll(INFORMER)) {
      const apiGroup = group === undefined ? "core" : group === "${GROUP}" ? "redis.io" : group;
      const resource = plural === "${PLURAL}" ? "redisclusters" : plural;
      assert.ok(
        resource && !resource.includes("$"),
        `${folder}: cannot read the informer's resource in ${call}`,
      );
      used.add(`list ${apiGroup}/${resource}`);
      used.add(`watch ${apiGroup}/${resource}`);
    }
  }
  return [...used].sort();
}

/** What the ServiceAccount is granted, through all its bindings, without namespace or name scoping. */
function permissionsGranted(objects: readonly KubeObject[], serviceAccount: string): string[] {
  const granted = new Set<string>();
  for (const binding of objects.filter((o) => o.kind === "ClusterRoleBinding" || o.kind === "RoleBinding")) {
    const bound = list(binding, "subjects").some(
      (s) => get(s, "kind") === "ServiceAccount" && get(s, "name") === serviceAccount,
    );
    if (!bound) continue;
    const role = objects.find(
      (o) =>
        o.kind === get(binding, "roleRef", "kind") && o.metadata.name === get(binding, "roleRef", "name"),
    );
    for (const rule of list(role, "rules")) {
      for (const group of list(rule, "apiGroups") as string[]) {
        for (const resource of list(rule, "resources") as string[]) {
          for (const verb of list(rule, "verbs") as string[]) {
            granted.add(`${verb} ${group === "" ? "core" : group}/${resource}`);
          }
        }
      }
    }
  }
  return [...granted].sort();
}

const installation = kustomize(MANIFESTS);

describe("RBAC matches the programs' API calls", () => {
  it("the webhook is granted exactly what webhook/ calls", () => {
    assert.deepEqual(permissionsGranted(installation, "redis-dr-webhook"), permissionsUsed("webhook"));
  });

  it("the controller is granted exactly what controller/ calls, plus the grants explained here", () => {
    const controllerCode = sources("controller").join("\n");
    const implied: string[] = [];
    // Owner references with blockOwnerDeletion need update on the owner's finalizers where the
    // OwnerReferencesPermissionEnforcement admission plugin runs (OpenShift, hardened clusters).
    if (controllerCode.includes("blockOwnerDeletion: true"))
      implied.push("update redis.io/redisclusters/finalizers");
    assert.deepEqual(
      permissionsGranted(installation, "redis-dr-controller"),
      [...permissionsUsed("controller"), ...implied].sort(),
    );
  });

  it("the scan sees the calls it must see (so an empty result cannot pass by accident)", () => {
    assert.ok(permissionsUsed("webhook").includes("get core/secrets"));
    assert.ok(permissionsUsed("controller").includes("watch redis.io/redisclusters"));
    assert.ok(permissionsUsed("controller").includes("get redis.io/redisclusters"));
    assert.ok(permissionsUsed("controller").includes("patch redis.io/redisclusters/status"));
  });
});
