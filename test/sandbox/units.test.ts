/**
 * The sandbox's pure pieces: patch types, selectors, printer-column JSONPath, ages, `$(VAR)` expansion,
 * image classification, CRD pruning and defaulting, Event MicroTime decoding.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { applyDefaults, prune } from "../../hack/sandbox/api/crd-schema.ts";
import { microTimeError } from "../../hack/sandbox/api/micro-time.ts";
import { applyJsonPatch, mergePatch, strategicMergePatch } from "../../hack/sandbox/api/patch.ts";
import {
  labelSelectorFromObject,
  parseFieldSelector,
  parseLabelSelector,
} from "../../hack/sandbox/api/selectors.ts";
import { humanDuration, jsonPathValue } from "../../hack/sandbox/api/table.ts";
import { effectiveArgv, imageKind } from "../../hack/sandbox/kubelet/image.ts";
import { expandVars } from "../../hack/sandbox/kubelet/kubelet.ts";

describe("patches", () => {
  test("a merge patch merges objects, replaces lists and deletes with null", () => {
    assert.deepEqual(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] }), {
      a: { c: 2, d: 3 },
      l: [3],
    });
  });

  test("a JSON patch applies operations in order and refuses a failing test", () => {
    assert.deepEqual(
      applyJsonPatch({ a: [1] }, [
        { op: "add", path: "/a/-", value: 2 },
        { op: "replace", path: "/a/0", value: 0 },
      ]),
      { a: [0, 2] },
    );
    assert.throws(() => applyJsonPatch({ a: 1 }, [{ op: "test", path: "/a", value: 2 }]), {
      name: "ApiError",
    });
  });

  test("a strategic merge patch merges containers and env by name and honours $patch directives", () => {
    const sts = {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "redis",
                image: "redis:7.0",
                env: [
                  { name: "A", value: "1" },
                  { name: "B", value: "2" },
                ],
              },
              { name: "exporter", image: "exporter:1" },
            ],
          },
        },
      },
    };
    const patched = strategicMergePatch(sts, {
      spec: {
        template: {
          spec: {
            $setElementOrder$containers: [],
            containers: [
              {
                name: "redis",
                image: "redis:7.2",
                env: [
                  { name: "B", $patch: "delete" },
                  { name: "C", value: "3" },
                ],
              },
              { name: "exporter", $patch: "delete" },
            ],
          },
        },
      },
    });
    assert.deepEqual(patched, {
      spec: {
        template: {
          spec: {
            $setElementOrder$containers: [],
            containers: [
              {
                name: "redis",
                image: "redis:7.2",
                env: [
                  { name: "A", value: "1" },
                  { name: "C", value: "3" },
                ],
              },
            ],
          },
        },
      },
    });
  });

  test("a strategic merge patch unions finalizers and deletes from primitive lists", () => {
    assert.deepEqual(
      strategicMergePatch({ metadata: { finalizers: ["a"] } }, { metadata: { finalizers: ["b"] } }),
      { metadata: { finalizers: ["a", "b"] } },
    );
    assert.deepEqual(
      strategicMergePatch(
        { metadata: { finalizers: ["a", "b"] } },
        { metadata: { "$deleteFromPrimitiveList/finalizers": ["a"] } },
      ),
      {
        metadata: { finalizers: ["b"] },
      },
    );
  });
});

describe("selectors", () => {
  test("label selectors: equality, sets, existence", () => {
    const labels = { app: "redis", role: "primary" };
    const cases: [string, boolean][] = [
      ["app=redis", true],
      ["app==redis,role!=replica", true],
      ["role in (replica, primary)", true],
      ["role notin (primary)", false],
      ["app,!missing", true],
      ["missing", false],
      ["", true],
    ];
    for (const [selector, expected] of cases)
      assert.equal(parseLabelSelector(selector)(labels), expected, selector);
  });

  test("LabelSelector objects: matchLabels and matchExpressions", () => {
    const selector = labelSelectorFromObject({
      matchLabels: { app: "redis" },
      matchExpressions: [
        { key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["redis-dr-system"] },
      ],
    });
    assert.equal(selector({ app: "redis", "kubernetes.io/metadata.name": "default" }), true);
    assert.equal(selector({ app: "redis", "kubernetes.io/metadata.name": "redis-dr-system" }), false);
  });

  test("field selectors on nested fields, as kubectl describe sends them", () => {
    const event = {
      metadata: { name: "e" },
      involvedObject: { kind: "RedisCluster", name: "east", uid: "u1" },
    };
    assert.equal(
      parseFieldSelector("involvedObject.name=east,involvedObject.kind=RedisCluster,involvedObject.uid=u1")(
        event,
      ),
      true,
    );
    assert.equal(parseFieldSelector("involvedObject.name!=east")(event), false);
  });
});

describe("tables", () => {
  test("printer-column JSONPath: fields, indexes and filters", () => {
    const object = {
      status: {
        conditions: [
          { type: "Ready", status: "True" },
          { type: "ReplicaMode", reason: "Enabled" },
        ],
        ingress: [{ ip: "1" }],
      },
    };
    assert.equal(jsonPathValue(object, '.status.conditions[?(@.type=="Ready")].status'), "True");
    assert.equal(jsonPathValue(object, ".status.ingress[0].ip"), "1");
    assert.equal(jsonPathValue(object, ".status.missing"), undefined);
  });

  test("ages print like kubectl's", () => {
    const seconds = [5, 119, 150, 600, 7200, 4 * 3600 + 300, 30 * 3600, 200_000];
    assert.deepEqual(seconds.map(humanDuration), [
      "5s",
      "119s",
      "2m30s",
      "10m",
      "120m",
      "4h5m",
      "30h",
      "2d7h",
    ]);
  });
});

describe("containers", () => {
  test("$(VAR) expansion, with $$ as an escape", () => {
    assert.equal(
      expandVars("--requirepass $(PASSWORD) $(MISSING) $$(PASSWORD)", { PASSWORD: "p" }),
      "--requirepass p $(MISSING) $(PASSWORD)",
    );
  });

  test("images: redis and valkey run the host's redis, the official entrypoint rules apply", () => {
    assert.deepEqual(
      [
        "redis:7.2",
        "docker.io/library/redis@sha256:abc",
        "valkey/valkey:8",
        "bitnami/redis:7",
        "oliver006/redis_exporter",
        "busybox",
      ].map(imageKind),
      ["redis", "redis", "valkey", "redis", "placeholder", "shell"],
    );
    assert.deepEqual(effectiveArgv("redis", undefined, undefined), ["docker-entrypoint.sh", "redis-server"]);
    assert.deepEqual(effectiveArgv("redis", undefined, ["/etc/redis.conf"]), [
      "docker-entrypoint.sh",
      "/etc/redis.conf",
    ]);
    assert.deepEqual(effectiveArgv("redis", ["sh", "-c"], ["exec redis-server"]), [
      "sh",
      "-c",
      "exec redis-server",
    ]);
  });
});

describe("custom resource schemas", () => {
  const schema = {
    type: "object",
    properties: {
      spec: {
        type: "object",
        properties: {
          port: { type: "integer", default: 6379 },
          source: {
            type: "object",
            properties: { host: { type: "string" }, tls: { type: "boolean", default: false } },
          },
          labels: { type: "object", additionalProperties: { type: "string" } },
          free: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
        },
      },
    },
  };

  test("pruning drops undeclared fields and reports their paths", () => {
    const dropped: string[] = [];
    const pruned = prune(
      {
        apiVersion: "x/v1",
        kind: "X",
        metadata: { name: "n" },
        spec: { bogus: 1, labels: { a: "b" }, free: { any: 1 }, source: { host: "h", extra: true } },
        top: 1,
      },
      schema,
      true,
      dropped,
    );
    assert.deepEqual(pruned, {
      apiVersion: "x/v1",
      kind: "X",
      metadata: { name: "n" },
      spec: { labels: { a: "b" }, free: { any: 1 }, source: { host: "h" } },
    });
    assert.deepEqual(dropped, ["spec.bogus", "spec.source.extra", "top"]);
  });

  test("defaults fill absent fields only inside objects that exist", () => {
    assert.deepEqual(applyDefaults({ spec: {} }, schema), { spec: { port: 6379 } });
    assert.deepEqual(applyDefaults({ spec: { port: 1, source: {} } }, schema), {
      spec: { port: 1, source: { tls: false } },
    });
  });
});

describe("MicroTime", () => {
  // Go 1.26's time.Parse(metav1.RFC3339Micro, value), run on these values.
  const layout = '"2006-01-02T15:04:05.000000Z07:00"';
  const cases: readonly (readonly [string, string | undefined])[] = [
    ["2026-12-06T05:27:44.037000Z", undefined],
    ["2026-12-06T05:27:44.037000+01:00", undefined],
    ["2026-12-06T05:27:44.037Z", ` as ${layout}: cannot parse ".037Z" as ".000000"`],
    ["2026-12-06T05:27:44Z", ` as ${layout}: cannot parse "Z" as ".000000"`],
    ["2026-12-06T05:27:44.0370000Z", ` as ${layout}: cannot parse "0Z" as "Z07:00"`],
    ["garbage", ` as ${layout}: cannot parse "garbage" as "2006"`],
    ["2026-12-06T05:27:44.037000Zjunk", ': extra text: "junk"'],
  ];
  for (const [value, error] of cases) {
    test(`${value}${error ?? " parses"}`, () => {
      assert.equal(
        microTimeError(value),
        error === undefined ? undefined : `parsing time ${JSON.stringify(value)}${error}`,
      );
    });
  }
});
