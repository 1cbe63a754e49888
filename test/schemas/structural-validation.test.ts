import assert from "node:assert/strict";
import { test } from "node:test";
import { formatFieldError } from "../../kube-common/field-errors.ts";
import { validateStructure } from "../../webhook/validation/structural.ts";

type Json = Record<string, unknown>;

const valid = {
  apiVersion: "redis.io/v1",
  kind: "RedisCluster",
  metadata: { name: "dr-redis", namespace: "production" },
  spec: {
    instances: 3,
    storage: { size: "100Gi" },
    authSecret: { name: "dr-redis-auth" },
    replicaMode: {
      enabled: true,
      source: {
        host: "prod-redis-leader.production.svc.cluster.local",
        port: 6379,
        authSecretName: "prod-auth",
      },
    },
  },
};

const withSpec = (spec: Json): Json => ({ ...valid, spec: { ...valid.spec, ...spec } });
const withSource = (source: Json): Json =>
  withSpec({ replicaMode: { enabled: true, source: { host: "prod-redis", ...source } } });

const cases: [string, Json, string[]][] = [
  ["a valid cluster", valid, []],
  [
    "port above the range",
    withSource({ port: 70000 }),
    ["spec.replicaMode.source.port: Invalid value: 70000: must be between 1 and 65535"],
  ],
  [
    "port 0",
    withSource({ port: 0 }),
    ["spec.replicaMode.source.port: Invalid value: 0: must be between 1 and 65535"],
  ],
  [
    "port as a string",
    withSource({ port: "6379" }),
    ['spec.replicaMode.source.port: Invalid value: "6379": must be of type integer'],
  ],
  [
    "source without host",
    withSpec({ replicaMode: { enabled: true, source: { port: 6379 } } }),
    ["spec.replicaMode.source.host: Required value"],
  ],
  [
    "empty host",
    withSource({ host: "" }),
    ["spec.replicaMode.source.host: Required value: must not be empty"],
  ],
  [
    "zero instances",
    withSpec({ instances: 0 }),
    ["spec.instances: Invalid value: 0: must be between 1 and 16"],
  ],
  [
    "negative minSyncReplicas",
    withSpec({ minSyncReplicas: -1 }),
    ["spec.minSyncReplicas: Invalid value: -1: must be greater than or equal to 0"],
  ],
  [
    "unknown mode",
    withSpec({ mode: "cluster" }),
    ['spec.mode: Unsupported value: "cluster": supported values: "standalone", "sentinel"'],
  ],
  [
    "unknown topology",
    withSpec({ replicaMode: { enabled: true, source: { host: "h" }, topology: "chain" } }),
    ['spec.replicaMode.topology: Unsupported value: "chain": supported values: "direct", "cascade"'],
  ],
  [
    "enabled as a string",
    withSpec({ replicaMode: { enabled: "true", source: { host: "h" } } }),
    ['spec.replicaMode.enabled: Invalid value: "true": must be of type boolean'],
  ],
  [
    "storage size that is not a quantity",
    withSpec({ storage: { size: "lots" } }),
    ['spec.storage.size: Invalid value: "lots": must be a quantity such as 100Gi, 512Mi or 500m'],
  ],
  ["storage without size", withSpec({ storage: {} }), ["spec.storage.size: Required value"]],
  ["authSecret without name", withSpec({ authSecret: {} }), ["spec.authSecret.name: Required value"]],
  [
    "a Secret name that is not a DNS subdomain",
    withSource({ authSecretName: "Prod_Auth" }),
    [
      'spec.replicaMode.source.authSecretName: Invalid value: "Prod_Auth": a lowercase RFC 1123 subdomain must ' +
        "consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric " +
        "character",
    ],
  ],
  [
    "a node selector value that is not a string",
    withSpec({ nodeSelector: { "topology.kubernetes.io/region": 1 } }),
    ["spec.nodeSelector[topology.kubernetes.io/region]: Invalid value: 1: must be of type string"],
  ],
  [
    "a resource limit that is neither an integer nor a string",
    withSpec({ resources: { limits: { memory: true } } }),
    ["spec.resources.limits[memory]: Invalid value: true: must be an integer or a string"],
  ],
  [
    "a demotion token that is too long",
    withSpec({ replicaMode: { enabled: true, source: { host: "h" }, demotionToken: "x".repeat(65) } }),
    ["spec.replicaMode.demotionToken: Too long: may not be more than 64 bytes"],
  ],
  [
    "a promotion replication ID that is too long (CEL compares it and prints it)",
    { ...valid, status: { promotion: { phase: "Completed", replicationId: "a".repeat(65) } } },
    ["status.promotion.replicationId: Too long: may not be more than 64 bytes"],
  ],
  [
    "a 40-character Redis replication ID",
    { ...valid, status: { promotion: { phase: "Completed", replicationId: "8c1f9e6a0b".repeat(4) } } },
    [],
  ],
  [
    "no spec",
    { apiVersion: "redis.io/v1", kind: "RedisCluster", metadata: { name: "x" } },
    ["spec: Required value"],
  ],
  [
    "several problems at once, all reported",
    withSpec({ instances: 0, mode: "cluster", replicaMode: { enabled: "yes", source: { port: 70000 } } }),
    [
      "spec.instances: Invalid value: 0: must be between 1 and 16",
      'spec.mode: Unsupported value: "cluster": supported values: "standalone", "sentinel"',
      'spec.replicaMode.enabled: Invalid value: "yes": must be of type boolean',
      "spec.replicaMode.source.host: Required value",
      "spec.replicaMode.source.port: Invalid value: 70000: must be between 1 and 65535",
    ],
  ],
  [
    "a status condition with an unknown status",
    {
      ...valid,
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
    ['status.conditions[0].status: Unsupported value: "Maybe": supported values: "True", "False", "Unknown"'],
  ],
];

for (const [name, object, expected] of cases) {
  test(`structural validation: ${name}`, () => {
    assert.deepEqual(validateStructure(object).map(formatFieldError), expected);
  });
}

test("unknown fields are not errors (the API server prunes them, as for any structural schema)", () => {
  assert.deepEqual(validateStructure(withSpec({ replicas: 3 })), []);
});
