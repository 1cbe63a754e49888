/**
 * Captures how the real kube-apiserver (1.37.2, hack/k8s/build.sh) answers invalid RedisCluster requests
 * (and the reference manifests of test/fixtures/reference/, which it accepts), as fixtures for the sandbox
 * API server (test/sandbox/real-api-errors.e2e.test.ts replays each one against a sandbox and expects the same
 * answer). No operator runs: the CRD alone, so every refusal comes from the API server (OpenAPI schema, CEL
 * rules, object metadata, optimistic concurrency), none from our webhook.
 *
 *   bash hack/k8s/in-netns.sh node --import tsx hack/k8s/capture-api-errors.ts
 *
 * Writes test/fixtures/real-apiserver/<case>.json:
 *   { description, server, setup: [request…], request: {method, path, body, contentType?,
 *     resourceVersionFrom?}, response: {code, body, warnings}, teardown: [request…] }
 * `setup` are the requests sent first (each must succeed); `resourceVersionFrom: i` says the request's
 * metadata.resourceVersion is the one setup step i answered with (a replay puts its own there); `teardown`
 * removes what the request created when later cases reuse its name. Bodies are kept as the server sent
 * them, volatile fields (uid, resourceVersion, timestamps, managedFields) included.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import pino from "pino";
import { format, resolveConfig } from "prettier";
import YAML from "yaml";
import { REPO_ROOT } from "../sandbox/sandbox.ts";
import { RealCluster } from "./cluster.ts";
import { JsonClient } from "./json-client.ts";

const RANGE = 75;
const OUT_DIR = join(REPO_ROOT, "test/fixtures/real-apiserver");
const REFERENCE_DIR = join(REPO_ROOT, "test/fixtures/reference");
const SERVER = "kube-apiserver v1.37.2 (hack/k8s/build.sh), CRD manifests/crd/redis.io_redisclusters.yaml";

type Json = Record<string, unknown>;

export interface CapturedRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  body?: unknown;
  /** application/json unless said. */
  contentType?: string;
  /** Index of the setup step whose answer's metadata.resourceVersion this request's body carries. */
  resourceVersionFrom?: number;
  /** A setup step that may answer 409 AlreadyExists (a namespace two cases share). */
  mayExist?: boolean;
}

export interface CapturedResponse {
  code: number;
  body: unknown;
  /** The Warning headers' values, e.g. `299 - "unknown field \"spec.bogus\""`. */
  warnings: string[];
}

export interface ApiFixture {
  description: string;
  server: string;
  setup: CapturedRequest[];
  request: CapturedRequest;
  response: CapturedResponse;
  teardown: CapturedRequest[];
}

interface Case {
  name: string;
  description: string;
  setup?: CapturedRequest[];
  request: CapturedRequest;
  teardown?: CapturedRequest[];
}

/** One raw HTTPS request with the kubeconfig's credentials; any status code is an answer. */
function send(kubeConfig: KubeConfig, request: CapturedRequest): Promise<CapturedResponse> {
  return new JsonClient(kubeConfig).exchange(request.method, request.path, request.body, request.contentType);
}

/** `request` as sent after setup: its resourceVersion taken from the setup answer it names. */
function withResourceVersion(request: CapturedRequest, setupBodies: readonly unknown[]): CapturedRequest {
  if (request.resourceVersionFrom === undefined) return request;
  const from = setupBodies[request.resourceVersionFrom] as { metadata?: { resourceVersion?: string } };
  const resourceVersion = from?.metadata?.resourceVersion;
  if (!resourceVersion)
    throw new Error(`setup step ${request.resourceVersionFrom} answered no resourceVersion`);
  const body = structuredClone(request.body) as { metadata: Json };
  body.metadata.resourceVersion = resourceVersion;
  return { ...request, body };
}

// ---------------------------------------------------------------- the cases

const COLLECTION = "/apis/redis.io/v1/namespaces/default/redisclusters";
const at = (name: string) => `${COLLECTION}/${name}`;
const MERGE = "application/merge-patch+json";
const SOURCE = { host: "redis-east.example.com", port: 6379 };

/** A valid RedisCluster named `name`, with `spec`'s fields over 3 instances and 1Gi of storage. */
const cluster = (name: string, spec: Json = {}): Json => ({
  apiVersion: "redis.io/v1",
  kind: "RedisCluster",
  metadata: { name },
  spec: { instances: 3, storage: { size: "1Gi" }, ...spec },
});

const create = (name: string, spec: Json = {}): CapturedRequest => ({
  method: "POST",
  path: COLLECTION,
  body: cluster(name, spec),
});

/** A PUT of the whole object (no status: the main endpoint keeps the stored one) at setup step `from`'s version. */
const replace = (name: string, spec: Json, from: number): CapturedRequest => ({
  method: "PUT",
  path: at(name),
  body: { ...cluster(name, spec), metadata: { name, resourceVersion: "" } },
  resourceVersionFrom: from,
});

const mergePatch = (name: string, patch: Json, subresource = ""): CapturedRequest => ({
  method: "PATCH",
  path: `${at(name)}${subresource ? `/${subresource}` : ""}`,
  body: patch,
  contentType: MERGE,
});

const REPLICATING = { replicaMode: { enabled: true, source: SOURCE } };
const PROMOTED = { replicaMode: { enabled: true, source: SOURCE, promote: true } };
const PROMOTION_STATUS = { status: { promotion: { phase: "Completed", replicationId: "8c1f9e6a0b" } } };

function referenceCases(): Case[] {
  return readdirSync(REFERENCE_DIR)
    .filter((file) => file.endsWith(".yaml"))
    .sort()
    .map((file) => {
      const object = YAML.parse(readFileSync(join(REFERENCE_DIR, file), "utf8")) as {
        metadata: { namespace: string; name: string };
      };
      const namespace = object.metadata.namespace;
      return {
        name: `reference-${basename(file, ".yaml")}`,
        description: `test/fixtures/reference/${file} created as it stands (namespace ${namespace})`,
        setup:
          namespace === "default"
            ? []
            : [
                {
                  method: "POST",
                  path: "/api/v1/namespaces",
                  body: { metadata: { name: namespace } },
                  mayExist: true,
                },
              ],
        request: {
          method: "POST",
          path: `/apis/redis.io/v1/namespaces/${namespace}/redisclusters`,
          body: object,
        },
        // Several reference manifests are the same cluster at different moments (one name).
        teardown: [
          {
            method: "DELETE",
            path: `/apis/redis.io/v1/namespaces/${namespace}/redisclusters/${object.metadata.name}`,
          },
        ],
      } satisfies Case;
    });
}

const CASES: Case[] = [
  // The OpenAPI schema, one error at a time.
  {
    name: "port-maximum",
    description: "spec.replicaMode.source.port 70000 (maximum 65535)",
    request: create("port-maximum", { replicaMode: { enabled: true, source: { host: "h", port: 70000 } } }),
  },
  {
    name: "port-zero",
    description: "spec.replicaMode.source.port 0 (minimum 1)",
    request: create("port-zero", { replicaMode: { enabled: true, source: { host: "h", port: 0 } } }),
  },
  {
    name: "instances-minimum",
    description: "spec.instances 0 (minimum 1)",
    request: create("instances-minimum", { instances: 0 }),
  },
  {
    name: "mode-enum",
    description: "spec.mode bogus (enum standalone, sentinel)",
    request: create("mode-enum", { mode: "bogus" }),
  },
  {
    name: "instances-type",
    description: 'spec.instances "three" (an integer)',
    request: create("instances-type", { instances: "three" }),
  },
  {
    name: "instances-float",
    description: "spec.instances 1.5 (an integer)",
    request: create("instances-float", { instances: 1.5 }),
  },
  {
    name: "instances-int32-overflow",
    description: "spec.instances 3000000000 (format int32)",
    request: create("instances-int32-overflow", { instances: 3000000000 }),
  },
  {
    name: "instances-null",
    description: "spec.instances null (not nullable: dropped, then defaulted)",
    request: create("instances-null", { instances: null }),
  },
  {
    name: "enabled-type",
    description: 'spec.replicaMode.enabled "yes" (a boolean)',
    request: create("enabled-type", { replicaMode: { enabled: "yes", source: SOURCE } }),
  },
  {
    name: "spec-missing",
    description: "no spec (required)",
    request: {
      method: "POST",
      path: COLLECTION,
      body: { apiVersion: "redis.io/v1", kind: "RedisCluster", metadata: { name: "spec-missing" } },
    },
  },
  {
    name: "storage-size-missing",
    description: "spec.storage without size (required)",
    request: create("storage-size-missing", { storage: {} }),
  },
  {
    name: "storage-size-pattern",
    description: 'spec.storage.size "lots" (int-or-string with a quantity pattern)',
    request: create("storage-size-pattern", { storage: { size: "lots" } }),
  },
  {
    name: "secret-name-pattern",
    description: 'spec.authSecret.name "Prod_Auth" (DNS subdomain pattern)',
    request: create("secret-name-pattern", { authSecret: { name: "Prod_Auth" } }),
  },
  {
    name: "host-empty",
    description: 'spec.replicaMode.source.host "" (minLength 1)',
    request: create("host-empty", { replicaMode: { enabled: true, source: { host: "" } } }),
  },
  {
    name: "demotion-token-too-long",
    description: "spec.replicaMode.demotionToken of 65 characters (maxLength 64)",
    request: create("demotion-token-too-long", {
      replicaMode: { ...REPLICATING.replicaMode, demotionToken: "x".repeat(65) },
    }),
  },
  {
    name: "node-selector-type",
    description: "spec.nodeSelector value 1 (additionalProperties: string)",
    request: create("node-selector-type", { nodeSelector: { "topology.kubernetes.io/region": 1 } }),
  },
  {
    name: "resources-int-or-string",
    description: "spec.resources.limits.memory true (int-or-string)",
    request: create("resources-int-or-string", { resources: { limits: { memory: true } } }),
  },
  // Unknown fields.
  {
    name: "unknown-field-strict",
    description: "spec.bogus with fieldValidation=Strict",
    request: {
      ...create("unknown-field-strict", { bogus: 1 }),
      path: `${COLLECTION}?fieldValidation=Strict`,
    },
  },
  {
    name: "unknown-fields-strict-several",
    description: "spec.bogus, spec.replicaMode.extra and a top-level field with fieldValidation=Strict",
    request: {
      method: "POST",
      path: `${COLLECTION}?fieldValidation=Strict`,
      body: {
        ...cluster("unknown-fields-strict-several", {
          bogus: 1,
          replicaMode: { ...REPLICATING.replicaMode, extra: true },
        }),
        topLevel: "x",
      },
    },
  },
  {
    name: "unknown-field-default",
    description: "spec.bogus without fieldValidation: created, the field dropped, a warning",
    request: create("unknown-field-default", { bogus: 1 }),
  },
  // Several errors in one request.
  {
    name: "several-schema-errors",
    description: "five schema errors at once: their order and how the message joins them",
    request: create("several-schema-errors", {
      instances: 0,
      mode: "cluster",
      replicaMode: { enabled: "yes", source: { port: 70000 } },
      authSecret: { name: "Bad_Name" },
    }),
  },
  {
    name: "schema-and-cel-errors",
    description: "instances 0 (a minimum: not blocking) with minSyncReplicas 2: the CEL rules still run",
    request: create("schema-and-cel-errors", { instances: 0, minSyncReplicas: 2 }),
  },
  {
    name: "blocking-schema-error-skips-cel",
    description: "mode bogus (an enum: blocking) with minSyncReplicas 3 of 3 instances: CEL does not run",
    request: create("blocking-schema-error-skips-cel", { mode: "bogus", minSyncReplicas: 3 }),
  },
  {
    name: "name-invalid-and-schema-error",
    description: 'metadata.name "Bad_Name" with spec.instances 0: metadata, schema and CEL errors together',
    request: create("Bad_Name", { instances: 0 }),
  },
  {
    name: "name-missing",
    description: "no metadata.name nor generateName",
    request: { ...create("name-missing"), body: { ...cluster("x"), metadata: {} } },
  },
  // The CEL rules.
  {
    name: "cel-enabled-without-source",
    description: "replicaMode.enabled true without a source",
    request: create("cel-enabled-without-source", { replicaMode: { enabled: true } }),
  },
  {
    name: "cel-promote-without-enabled",
    description: "replicaMode.promote true without enabled",
    request: create("cel-promote-without-enabled", { replicaMode: { source: SOURCE, promote: true } }),
  },
  {
    name: "cel-two-rules",
    description: "promote true, enabled true and no source: two rules of replicaMode fail",
    request: create("cel-two-rules", { replicaMode: { enabled: true, promote: true } }),
  },
  {
    name: "cel-min-sync-replicas",
    description: "minSyncReplicas 3 with 3 instances",
    request: create("cel-min-sync-replicas", { minSyncReplicas: 3 }),
  },
  {
    name: "cel-name-53-chars",
    description: "a 53-character name (a valid subdomain, refused by the root's name rule)",
    request: create("a".repeat(53)),
  },
  {
    name: "cel-storage-change",
    description: "an UPDATE (PUT) that changes spec.storage.size",
    setup: [create("cel-storage-change")],
    request: replace("cel-storage-change", { storage: { size: "2Gi" } }, 0),
  },
  {
    name: "cel-storage-removed-patch",
    description: "a merge patch that removes spec.storage",
    setup: [create("cel-storage-removed-patch")],
    request: mergePatch("cel-storage-removed-patch", { spec: { storage: null } }),
  },
  {
    name: "cel-revert-without-token",
    description:
      "an UPDATE (PUT) setting promote false on a promoted cluster whose status has promotion.replicationId",
    setup: [
      create("cel-revert-without-token", PROMOTED),
      mergePatch("cel-revert-without-token", PROMOTION_STATUS, "status"),
    ],
    request: replace(
      "cel-revert-without-token",
      { replicaMode: { ...PROMOTED.replicaMode, promote: false } },
      1,
    ),
  },
  {
    name: "cel-revert-without-token-patch",
    description: "the same revert as a merge patch (kubectl patch --type=merge)",
    setup: [
      create("cel-revert-without-token-patch", PROMOTED),
      mergePatch("cel-revert-without-token-patch", PROMOTION_STATUS, "status"),
    ],
    request: mergePatch("cel-revert-without-token-patch", { spec: { replicaMode: { promote: false } } }),
  },
  {
    name: "cel-turn-off-replica-mode",
    description: "an UPDATE (PUT) setting enabled false while replicating",
    setup: [create("cel-turn-off-replica-mode", REPLICATING)],
    request: replace("cel-turn-off-replica-mode", { replicaMode: { enabled: false, source: SOURCE } }, 0),
  },
  // The status subresource.
  {
    name: "status-condition-enum",
    description: "a status patch with a condition status Maybe",
    setup: [create("status-condition-enum")],
    request: mergePatch(
      "status-condition-enum",
      {
        status: {
          conditions: [
            {
              type: "Ready",
              status: "Maybe",
              reason: "X",
              message: "",
              lastTransitionTime: "2026-11-23T10:00:00Z",
            },
          ],
        },
      },
      "status",
    ),
  },
  {
    name: "status-minimum",
    description: "a status patch with status.replication.lagBytes -1 (minimum 0)",
    setup: [create("status-minimum")],
    request: mergePatch("status-minimum", { status: { replication: { lagBytes: -1 } } }, "status"),
  },
  {
    name: "status-date-time",
    description: 'a status patch with status.promotion.requestedAt "yesterday" (format date-time)',
    setup: [create("status-date-time")],
    request: mergePatch(
      "status-date-time",
      { status: { promotion: { requestedAt: "yesterday" } } },
      "status",
    ),
  },
  {
    name: "status-condition-duplicate",
    description: "a status patch with two Ready conditions (x-kubernetes-list-type: map, key type)",
    setup: [create("status-condition-duplicate")],
    request: mergePatch(
      "status-condition-duplicate",
      {
        status: {
          conditions: ["True", "False"].map((status) => ({
            type: "Ready",
            status,
            reason: "X",
            message: "",
            lastTransitionTime: "2026-11-23T10:00:00Z",
          })),
        },
      },
      "status",
    ),
  },
  {
    name: "status-spec-ignored",
    description: "a status patch that also sets spec.instances 0: the status endpoint ignores spec",
    setup: [create("status-spec-ignored")],
    request: mergePatch(
      "status-spec-ignored",
      { spec: { instances: 0 }, status: { replication: { lagBytes: -1 } } },
      "status",
    ),
  },
  // Existence and optimistic concurrency.
  {
    name: "delete-missing",
    description: "DELETE of an object that does not exist",
    request: { method: "DELETE", path: at("missing") },
  },
  {
    name: "get-missing",
    description: "GET of an object that does not exist",
    request: { method: "GET", path: at("missing") },
  },
  {
    name: "create-existing",
    description: "POST of a name that exists",
    setup: [create("create-existing")],
    request: create("create-existing"),
  },
  {
    name: "update-stale-resource-version",
    description: "PUT with the resourceVersion of before a later patch",
    setup: [create("update-stale"), mergePatch("update-stale", { spec: { instances: 4 } })],
    request: replace("update-stale", { instances: 5 }, 0),
  },
  {
    name: "patch-stale-resource-version",
    description: "a merge patch carrying the resourceVersion of before a later patch",
    setup: [create("patch-stale"), mergePatch("patch-stale", { spec: { instances: 4 } })],
    request: {
      ...mergePatch("patch-stale", { metadata: { resourceVersion: "" }, spec: { instances: 5 } }),
      resourceVersionFrom: 0,
    },
  },
  {
    name: "update-without-resource-version",
    description: "PUT without metadata.resourceVersion",
    setup: [create("update-without-rv")],
    request: {
      method: "PUT",
      path: at("update-without-rv"),
      body: cluster("update-without-rv", { instances: 4 }),
    },
  },
  {
    name: "patch-invalid",
    description: "a merge patch setting spec.instances 0",
    setup: [create("patch-invalid")],
    request: mergePatch("patch-invalid", { spec: { instances: 0 } }),
  },
  {
    name: "strategic-merge-patch",
    description: "a strategic merge patch, which custom resources do not support",
    setup: [create("strategic-merge-patch")],
    request: {
      ...mergePatch("strategic-merge-patch", { spec: { instances: 4 } }),
      contentType: "application/strategic-merge-patch+json",
    },
  },
];

// ---------------------------------------------------------------- capture

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function capture(cluster: RealCluster, item: Case): Promise<ApiFixture> {
  const kubeConfig = cluster.kubeConfig;
  const setup = item.setup ?? [];
  const answers: unknown[] = [];
  const sentSetup: CapturedRequest[] = [];
  for (const step of setup) {
    const sent = withResourceVersion(step, answers);
    const answer = await send(kubeConfig, sent);
    if (answer.code >= 300 && !(answer.code === 409 && step.mayExist))
      throw new Error(
        `${item.name}: setup ${step.method} ${step.path} answered ${answer.code}: ${JSON.stringify(answer.body)}`,
      );
    answers.push(answer.body);
    sentSetup.push(sent);
  }
  const request = withResourceVersion(item.request, answers);
  const response = await send(kubeConfig, request);
  const teardown = item.teardown ?? [];
  for (const step of teardown) {
    const answer = await send(kubeConfig, step);
    if (answer.code >= 300 && answer.code !== 404)
      throw new Error(`${item.name}: teardown ${step.method} ${step.path} answered ${answer.code}`);
  }
  return { description: item.description, server: SERVER, setup: sentSetup, request, response, teardown };
}

/**
 * How many orders of causes the same request gets: kube-openapi walks an object's properties in Go map
 * order, so the order of schema errors of sibling properties changes between requests (the sandbox's test
 * compares them as a set for that reason).
 */
async function causeOrders(cluster: RealCluster, request: CapturedRequest, times: number): Promise<number> {
  const orders = new Set<string>();
  for (let i = 0; i < times; i++) {
    const { body } = await send(cluster.kubeConfig, request);
    const causes = (body as { details?: { causes?: { field: string }[] } }).details?.causes ?? [];
    orders.add(causes.map((c) => c.field).join(" "));
  }
  return orders.size;
}

async function main(): Promise<void> {
  const logger = pino({ level: "info" });
  const cluster = await RealCluster.start({ range: RANGE, logger });
  try {
    await cluster.kubectlOk(["apply", "-f", join(REPO_ROOT, "manifests/crd/redis.io_redisclusters.yaml")]);
    await cluster.kubectlOk([
      "wait",
      "--for=condition=Established",
      "crd/redisclusters.redis.io",
      "--timeout=60s",
    ]);
    // Established comes a moment before the resource is served.
    await waitUntil(
      "redisclusters to be served",
      async () => (await send(cluster.kubeConfig, { method: "GET", path: COLLECTION })).code === 200,
    );
    rmSync(OUT_DIR, { recursive: true, force: true });
    mkdirSync(OUT_DIR, { recursive: true });
    for (const item of [...referenceCases(), ...CASES]) {
      const fixture = await capture(cluster, item);
      // As Prettier writes JSON, so that `npm run format` leaves the fixtures as captured.
      const file = join(OUT_DIR, `${item.name}.json`);
      const options = { ...(await resolveConfig(file)), filepath: file };
      writeFileSync(file, await format(JSON.stringify(fixture), options));
      const body = fixture.response.body as { message?: string };
      logger.info({ case: item.name, code: fixture.response.code, message: body.message }, "captured");
    }
    const several = CASES.find((item) => item.name === "several-schema-errors");
    if (several) {
      const orders = await causeOrders(cluster, several.request, 30);
      logger.info({ case: several.name, sends: 30, orders }, "orders of the causes of one request");
    }
  } finally {
    await cluster.stop();
  }
}

await main();
