/**
 * What the owned kinds' caches keep (controller/watch/informers.ts, keepMetadataOnly): the metadata the
 * reconcile reads, nothing else.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1StatefulSet } from "@kubernetes/client-node";
import { keepMetadataOnly } from "../../../controller/watch/informers.ts";

describe("keepMetadataOnly", () => {
  it("keeps apiVersion, kind and the metadata but its managedFields, in place", () => {
    const kept = {
      name: "redis-west",
      namespace: "us-west",
      resourceVersion: "42",
      annotations: { "redis.io/spec-hash": "abc" },
      labels: { "redis.io/cluster": "redis-west" },
    };
    const statefulSet: V1StatefulSet = {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: {
        ...structuredClone(kept),
        managedFields: [{ manager: "redis-dr-controller", operation: "Update" }],
      },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: "redis" } },
        serviceName: "redis-west",
        template: { spec: { containers: [{ name: "redis", image: "redis:7" }] } },
      },
      status: { replicas: 3, readyReplicas: 3 },
    };
    keepMetadataOnly(statefulSet);
    assert.deepEqual(statefulSet, { apiVersion: "apps/v1", kind: "StatefulSet", metadata: kept });
  });

  it("takes a listed item, which has no apiVersion or kind", () => {
    const item = { metadata: { name: "redis-west-leader" }, spec: { ports: [] }, status: {} };
    keepMetadataOnly(item);
    assert.deepEqual(item, { metadata: { name: "redis-west-leader" } });
  });
});
