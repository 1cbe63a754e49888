import { describe, test } from "node:test";
import assert from "node:assert/strict";
import jsonpatch from "fast-json-patch";
import { defaultingPatch, jsonPointer } from "../../../webhook/defaulting/defaults.ts";
import type { SchemaNode } from "../../../schemas/rediscluster.ts";

const apply = (object: unknown, ops: ReturnType<typeof defaultingPatch>) =>
  jsonpatch.applyPatch(structuredClone(object), jsonpatch.deepClone(ops), true).newDocument;

describe("defaultingPatch", () => {
  test("fills instances, mode, the source port and the topology from the schema's defaults", () => {
    const object = {
      apiVersion: "redis.io/v1",
      kind: "RedisCluster",
      metadata: { name: "redis-west", namespace: "default" },
      spec: { replicaMode: { enabled: true, source: { host: "35.123.45.67" } } },
    };
    assert.deepEqual(defaultingPatch(object), [
      { op: "add", path: "/spec/instances", value: 1 },
      { op: "add", path: "/spec/mode", value: "standalone" },
      { op: "add", path: "/spec/replicaMode/source/port", value: 6379 },
      { op: "add", path: "/spec/replicaMode/topology", value: "direct" },
    ]);
  });

  test("is empty when nothing is missing", () => {
    const object = {
      spec: {
        instances: 3,
        mode: "sentinel",
        replicaMode: { topology: "cascade", source: { host: "h", port: 6380 } },
      },
    };
    assert.deepEqual(defaultingPatch(object), []);
  });

  test("adds nothing under an object that is absent (no replicaMode, no topology)", () => {
    assert.deepEqual(defaultingPatch({ spec: { instances: 2, mode: "standalone" } }), []);
  });

  test("treats a null like a missing field, as the API server prunes it before defaulting", () => {
    assert.deepEqual(defaultingPatch({ spec: { instances: null, mode: "standalone" } }), [
      { op: "replace", path: "/spec/instances", value: 1 },
    ]);
  });

  test("never touches fields it does not know: applying the patch keeps them", () => {
    const object = {
      metadata: { name: "x", annotations: { "a/b": "c" }, managedFields: [{ manager: "kubectl" }] },
      spec: { futureField: { nested: [1, 2] }, replicaMode: { source: { host: "h", tlsServerName: "x" } } },
      unknownTopLevel: true,
    };
    const patched = apply(object, defaultingPatch(object));
    assert.deepEqual(patched, {
      ...object,
      spec: {
        ...object.spec,
        instances: 1,
        mode: "standalone",
        replicaMode: { source: { host: "h", tlsServerName: "x", port: 6379 }, topology: "direct" },
      },
    });
  });

  test("ignores values of the wrong shape (the validating endpoint reports them)", () => {
    assert.deepEqual(defaultingPatch({ spec: "not an object" }), []);
    assert.deepEqual(defaultingPatch([1, 2]), []);
    assert.deepEqual(defaultingPatch(null), []);
  });
});

describe("jsonPointer", () => {
  test("escapes ~ and / in keys (RFC 6901)", () => {
    assert.equal(
      jsonPointer(["metadata", "annotations", "redis.io/a~b"]),
      "/metadata/annotations/redis.io~1a~0b",
    );
  });

  test("a default under a key that needs escaping is patched at the escaped path", () => {
    const schema: SchemaNode = {
      type: "object",
      properties: { "a/b": { type: "object", properties: { "c~d": { type: "string", default: "x" } } } },
    };
    const object = { "a/b": {} };
    const ops = defaultingPatch(object, schema);
    assert.deepEqual(ops, [{ op: "add", path: "/a~1b/c~0d", value: "x" }]);
    assert.deepEqual(apply(object, ops), { "a/b": { "c~d": "x" } });
  });
});
