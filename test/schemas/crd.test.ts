import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { Ajv } from "ajv";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition";
import { parse } from "yaml";
import { buildCrd } from "../../schemas/crd.ts";
import { redisClusterSchema, type SchemaNode } from "../../schemas/rediscluster.ts";

/**
 * Every keyword apiextensions.k8s.io/v1 JSONSchemaProps accepts. `uniqueItems` is accepted only absent or false
 * (the API server refuses `uniqueItems: true`), which a test below checks.
 */
const CRD_KEYWORDS = new Set([
  "description",
  "type",
  "format",
  "title",
  "default",
  "maximum",
  "exclusiveMaximum",
  "minimum",
  "exclusiveMinimum",
  "maxLength",
  "minLength",
  "pattern",
  "maxItems",
  "minItems",
  "uniqueItems",
  "multipleOf",
  "enum",
  "maxProperties",
  "minProperties",
  "required",
  "items",
  "allOf",
  "oneOf",
  "anyOf",
  "not",
  "properties",
  "additionalProperties",
  "nullable",
  "example",
  "externalDocs",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-int-or-string",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-list-type",
  "x-kubernetes-map-type",
  "x-kubernetes-validations",
]);
/** What Kubernetes forbids inside allOf/anyOf/oneOf/not (structural schema rule 3). */
const FORBIDDEN_IN_JUNCTORS = ["description", "type", "default", "additionalProperties", "nullable"];

interface Visited {
  readonly node: SchemaNode;
  readonly path: string;
  readonly inJunctor: boolean;
}

function walk(node: SchemaNode, path = "", inJunctor = false, out: Visited[] = []): Visited[] {
  out.push({ node, path, inJunctor });
  for (const [name, child] of Object.entries(node.properties ?? {}))
    walk(child, `${path}.${name}`, inJunctor, out);
  if (node.items) walk(node.items, `${path}[]`, inJunctor, out);
  if (typeof node.additionalProperties === "object")
    walk(node.additionalProperties, `${path}{}`, inJunctor, out);
  for (const [i, branch] of (node.anyOf ?? []).entries()) walk(branch, `${path}|anyOf${i}`, true, out);
  return out;
}

const nodes = walk(redisClusterSchema);
const outsideJunctors = nodes.filter((v) => !v.inJunctor);

test("the generated CRD file is the CRD built from the schema", async () => {
  const file = await readFile(
    new URL("../../manifests/crd/redis.io_redisclusters.yaml", import.meta.url),
    "utf8",
  );
  assert.deepEqual(parse(file), JSON.parse(JSON.stringify(buildCrd())));
});

test("the CRD is a valid apiextensions.k8s.io/v1 CustomResourceDefinition", () => {
  const crd = new CustomResourceDefinition(JSON.parse(JSON.stringify(buildCrd())));
  assert.doesNotThrow(() => crd.validate());
  const [version] = crd.spec.versions;
  assert.equal(crd.metadata?.name, "redisclusters.redis.io");
  assert.equal(crd.spec.scope, "Namespaced");
  assert.deepEqual(version?.subresources, { status: {} });
  assert.deepEqual(crd.spec.names.shortNames, ["rdc"]);
});

/**
 * The short names of Kubernetes' built-in resources (k8s.io/kubernetes v1.37.2, every ShortNames() under
 * pkg/registry, and the CRD type's own), plus psp, PodSecurityPolicy's until 1.25. kubectl resolves a short
 * name to the built-in resource first, so a CRD sharing one is never reached through it.
 */
const BUILTIN_SHORT_NAMES = (
  "cj cm crd crds cs csr deploy ds ep ev hpa ing ip limits netpol no ns pc pdb po psp pv pvc quota rc rs sa sc " +
  "sts svc vac"
).split(" ");

test("no short name of the CRD is a built-in resource's", () => {
  const names = buildCrd().spec.names;
  assert.ok(names.shortNames.length > 0);
  assert.deepEqual(
    names.shortNames.filter((name) => BUILTIN_SHORT_NAMES.includes(name)),
    [],
  );
});

test("the printer columns show instances, ready pods, mode, source, primary, lag, Ready and age", () => {
  const columns = buildCrd().spec.versions[0]?.additionalPrinterColumns.map((c) => `${c.name}=${c.jsonPath}`);
  assert.deepEqual(columns, [
    "Instances=.spec.instances",
    "Ready Pods=.status.readyInstances",
    "Mode=.spec.mode",
    "Replicating From=.status.replication.replicatingFrom",
    "Primary=.status.currentPrimary",
    "Lag=.status.replication.lagBytes",
    'Ready=.status.conditions[?(@.type=="Ready")].status',
    'Replica Mode=.status.conditions[?(@.type=="ReplicaMode")].reason',
    "Age=.metadata.creationTimestamp",
  ]);
});

test("every schema node uses only keywords a CRD accepts", () => {
  const offending = nodes.flatMap(({ node, path }) =>
    Object.keys(node)
      .filter((keyword) => !CRD_KEYWORDS.has(keyword))
      .map((keyword) => `${path || "<root>"}: ${keyword}`),
  );
  assert.deepEqual(offending, []);
});

const uniqueItemsTrue = (visited: Visited[]): string[] =>
  visited
    .filter(({ node }) => (node as Record<string, unknown>)["uniqueItems"] === true)
    .map(({ path }) => path || "<root>");

test("no node sets uniqueItems: true, which a CRD refuses (absent or false only)", () => {
  assert.deepEqual(uniqueItemsTrue(nodes), []);
  const list = (uniqueItems: boolean) =>
    ({
      type: "object",
      properties: { hosts: { type: "array", items: { type: "string" }, uniqueItems } },
    }) as SchemaNode;
  assert.deepEqual(uniqueItemsTrue(walk(list(true))), [".hosts"]);
  assert.deepEqual(uniqueItemsTrue(walk(list(false))), []);
});

test("every node outside a junctor has a type, or is int-or-string", () => {
  const untyped = outsideJunctors
    .filter(({ node }) => node.type === undefined && node["x-kubernetes-int-or-string"] !== true)
    .map(({ path }) => path || "<root>");
  assert.deepEqual(untyped, []);
});

test("junctors only hold value validations, and int-or-string uses Kubernetes' exact anyOf", () => {
  const offending = nodes
    .filter(({ inJunctor }) => inJunctor)
    .flatMap(({ node, path }) =>
      FORBIDDEN_IN_JUNCTORS.filter((k) => k in node && !(k === "type" && /\|anyOf[01]$/.test(path))).map(
        (k) => `${path}: ${k}`,
      ),
    );
  assert.deepEqual(offending, []);
  for (const { node, path } of nodes.filter((v) => v.node["x-kubernetes-int-or-string"])) {
    assert.deepEqual(node.anyOf, [{ type: "integer" }, { type: "string" }], path);
  }
});

test("no node sets both properties and additionalProperties", () => {
  const both = nodes.filter(({ node }) => node.properties && node.additionalProperties !== undefined);
  assert.deepEqual(
    both.map((v) => v.path),
    [],
  );
});

/**
 * The API server's structural check of the root metadata (validateStructuralMetadataInvariants) clears only
 * `type`, `default` and a `properties` holding nothing but name and/or generateName, then requires an empty
 * schema: a description there makes the whole CRD invalid ("must not specify anything other than name and
 * generateName, but metadata is implicitly specified").
 */
function rootMetadataProblems(schema: SchemaNode): string[] {
  const metadata = schema.properties?.metadata;
  if (metadata === undefined) return [];
  const problems = Object.keys(metadata)
    .filter((keyword) => keyword !== "type" && keyword !== "properties")
    .map((keyword) => `metadata: ${keyword}`);
  if (metadata.type !== "object") problems.push("metadata: type must be object");
  const properties = Object.keys(metadata.properties ?? {});
  problems.push(
    ...properties
      .filter((name) => name !== "name" && name !== "generateName")
      .map((name) => `metadata.${name}`),
  );
  return problems;
}

test("root metadata holds only type: object and name (the API server serves ObjectMeta's own schema)", () => {
  // name is declared only so the name rule's fieldPath `.metadata.name` is a path of the schema.
  assert.deepEqual(redisClusterSchema.properties?.metadata, {
    type: "object",
    properties: { name: { type: "string" } },
  });
  assert.deepEqual(rootMetadataProblems(redisClusterSchema), []);
});

test("the root metadata check refuses what the API server refuses", () => {
  const withMetadata = (metadata: SchemaNode): SchemaNode => ({ type: "object", properties: { metadata } });
  assert.deepEqual(
    rootMetadataProblems(withMetadata({ type: "object", description: "Standard metadata." })),
    ["metadata: description"],
  );
  assert.deepEqual(
    rootMetadataProblems(withMetadata({ type: "object", properties: { labels: { type: "object" } } })),
    ["metadata.labels"],
  );
  assert.deepEqual(
    rootMetadataProblems(
      withMetadata({ type: "object", properties: { name: { type: "string", maxLength: 63 } } }),
    ),
    [],
  );
});

test("every default is valid against its own node", () => {
  const ajv = new Ajv({ strict: false });
  const defaults = outsideJunctors.filter(({ node }) => node.default !== undefined);
  assert.ok(defaults.length >= 4, "port, mode, topology and instances have defaults");
  for (const { node, path } of defaults) {
    assert.ok(
      ajv.validate(node, node.default),
      `${path}: default ${JSON.stringify(node.default)} is invalid`,
    );
  }
});

test("list-map keys are required in their items", () => {
  for (const { node, path } of nodes.filter((v) => v.node["x-kubernetes-list-type"] === "map")) {
    for (const key of node["x-kubernetes-list-map-keys"] ?? []) {
      assert.ok(node.items?.required?.includes(key), `${path}: map key ${key} must be required`);
    }
  }
});

test("every named field has a description, so kubectl explain is useful", () => {
  // Root metadata may not have one (see above); kubectl explain shows ObjectMeta's own there.
  const missing = outsideJunctors
    .filter(({ path }) => !path.endsWith("{}") && !path.endsWith("[]") && !path.startsWith(".metadata"))
    .filter(({ node }) => !node.description || node.description.trim().length < 10)
    .map(({ path }) => path || "<root>");
  assert.deepEqual(missing, []);
});

test("every field of DESIGN §2 is in the schema", () => {
  const paths = new Set(outsideJunctors.map((v) => v.path));
  const design = [
    ".spec.instances",
    ".spec.mode",
    ".spec.image",
    ".spec.storage.size",
    ".spec.storage.storageClass",
    ".spec.authSecret.name",
    ".spec.tlsSecret.name",
    ".spec.nodeSelector",
    ".spec.resources",
    ".spec.minSyncReplicas",
    ".spec.replicaMode.enabled",
    ".spec.replicaMode.source.host",
    ".spec.replicaMode.source.port",
    ".spec.replicaMode.source.clusterName",
    ".spec.replicaMode.source.authSecretName",
    ".spec.replicaMode.promote",
    ".spec.replicaMode.topology",
    ".spec.replicaMode.demotionToken",
    ".status.conditions",
    ".status.currentPrimary",
    ".status.designatedLeader",
    ".status.instances",
    ".status.readyInstances",
    ".status.observedGeneration",
    ".status.replication.linkStatus",
    ".status.replication.linkDownSeconds",
    ".status.replication.leaderOffset",
    ".status.replication.lagBytes",
    ".status.promotion.requestedAt",
    ".status.promotion.completedAt",
    ".status.promotion.formerSource",
    ".status.promotion.lagAtPromotionBytes",
    ".status.promotion.replicationId",
  ];
  assert.deepEqual(
    design.filter((p) => !paths.has(p)),
    [],
  );
});

test("bounds and defaults are in the CRD as defence in depth", () => {
  const port =
    redisClusterSchema.properties?.spec?.properties?.replicaMode?.properties?.source?.properties?.port;
  assert.deepEqual(
    { min: port?.minimum, max: port?.maximum, default: port?.default },
    { min: 1, max: 65535, default: 6379 },
  );
  assert.equal(port?.description, "Port of the external Redis primary, from 1 to 65535. Defaults to 6379.");
  const spec = redisClusterSchema.properties?.spec?.properties;
  assert.equal(spec?.instances?.minimum, 1);
  assert.equal(spec?.instances?.maximum, 16);
  assert.equal(spec?.instances?.default, 1);
  assert.match(spec?.instances?.description ?? "", /from 1 to 16\. Defaults to 1\./);
  assert.equal(spec?.nodeSelector?.maxProperties, 64);
  assert.equal(spec?.resources?.properties?.limits?.maxProperties, 16);
  assert.equal(spec?.resources?.properties?.requests?.maxProperties, 16);
  assert.equal(spec?.mode?.default, "standalone");
  assert.equal(spec?.replicaMode?.properties?.topology?.default, "direct");
});
