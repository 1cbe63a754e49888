/**
 * The sandbox API server through the real @kubernetes/client-node: CRUD semantics, optimistic concurrency,
 * patch types, the status subresource, CRD defaulting and CEL, garbage collection, and informers that
 * resume after watch failures and relist after 410 Gone.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
  type V1ConfigMap,
} from "@kubernetes/client-node";
import { startSandbox, waitFor, type TestSandbox } from "../../hack/sandbox/testing.ts";

/** 127.11.0.0/16: this file's sandbox. */
const RANGE = 11;
const NS = "default";
const RC = { group: "redis.io", version: "v1", plural: "redisclusters", namespace: NS };

let sb: TestSandbox;
let core: CoreV1Api;
let custom: CustomObjectsApi;

before(async () => {
  sb = await startSandbox({ range: RANGE });
  core = sb.kubeConfig.makeApiClient(CoreV1Api);
  custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
});
after(() => sb?.stop());

const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** The Status body of a failed call. */
async function failure(
  call: Promise<unknown>,
): Promise<{ code: number; message: string; reason: string; details?: unknown }> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof ApiException, `expected an ApiException, got ${String(error)}`);
    const body: unknown = typeof error.body === "string" ? JSON.parse(error.body) : error.body;
    return body as { code: number; message: string; reason: string };
  }
  assert.fail("the call succeeded");
}

type Obj = {
  metadata: { name: string; resourceVersion: string; generation?: number; uid?: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

describe("objects", () => {
  test("create assigns uid, creationTimestamp and resourceVersion; a stale update gets 409 Conflict", async () => {
    const created = await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "stale" }, data: { a: "1" } },
    });
    assert.match(created.metadata?.uid ?? "", /^[0-9a-f-]{36}$/);
    assert.ok(created.metadata?.creationTimestamp instanceof Date);
    const first = await core.replaceNamespacedConfigMap({
      name: "stale",
      namespace: NS,
      body: { ...created, data: { a: "2" } },
    });
    assert.notEqual(first.metadata?.resourceVersion, created.metadata?.resourceVersion);
    const status = await failure(
      core.replaceNamespacedConfigMap({
        name: "stale",
        namespace: NS,
        body: { ...created, data: { a: "3" } },
      }),
    );
    assert.deepEqual(
      [status.code, status.reason, status.message],
      [
        409,
        "Conflict",
        'Operation cannot be fulfilled on configmaps "stale": the object has been modified; please apply your changes to the latest version and try again',
      ],
    );
    const duplicate = await failure(
      core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "stale" } } }),
    );
    assert.deepEqual(
      [duplicate.code, duplicate.reason, duplicate.message],
      [409, "AlreadyExists", 'configmaps "stale" already exists'],
    );
    const missing = await failure(core.readNamespacedConfigMap({ name: "nope", namespace: NS }));
    assert.deepEqual([missing.code, missing.message], [404, 'configmaps "nope" not found']);
  });

  test("a JSON merge patch with null deletes the field", async () => {
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "merge", labels: { keep: "1", drop: "1" } }, data: { a: "1", b: "2" } },
    });
    const patched = await core.patchNamespacedConfigMap(
      {
        name: "merge",
        namespace: NS,
        body: { metadata: { labels: { drop: null } }, data: { b: null, c: "3" } },
      },
      merge,
    );
    assert.deepEqual(patched.data, { a: "1", c: "3" });
    assert.deepEqual(patched.metadata?.labels, { keep: "1" });
  });

  test("a JSON patch applies its operations", async () => {
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "jsonpatch" }, data: { a: "1" } },
    });
    const patched = await core.patchNamespacedConfigMap({
      name: "jsonpatch",
      namespace: NS,
      body: [
        { op: "replace", path: "/data/a", value: "9" },
        { op: "add", path: "/data/b", value: "2" },
      ],
    });
    assert.deepEqual(patched.data, { a: "9", b: "2" });
  });

  test("an Event's eventTime must be a MicroTime with six fractional digits, as the real API server decodes it", async () => {
    const event = (name: string, eventTime: Date) => ({
      metadata: { name },
      involvedObject: { kind: "ConfigMap", name: "x", namespace: NS },
      reason: "Tested",
      message: "m",
      type: "Normal",
      eventTime,
      reportingComponent: "tester",
      reportingInstance: "tester",
      action: "Tested",
    });
    // A Date serializes milliseconds only.
    const refused = await failure(
      core.createNamespacedEvent({
        namespace: NS,
        body: event("millis", new Date(Date.UTC(2026, 11, 6, 5, 27, 44, 37))),
      }),
    );
    assert.deepEqual(
      [refused.code, refused.reason, refused.message],
      [
        400,
        "BadRequest",
        'Event in version "v1" cannot be handled as a Event: parsing time "2026-12-06T05:27:44.037Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".037Z" as ".000000"',
      ],
    );
    const created = await core.createNamespacedEvent({
      namespace: NS,
      body: event("micros", new V1MicroTime(Date.UTC(2026, 11, 6, 5, 27, 44, 37))),
    });
    assert.equal(created.metadata?.name, "micros");
    assert.equal(
      sb.sandbox.core.store.get("/events", NS, "micros")?.eventTime,
      "2026-12-06T05:27:44.037000Z",
    );
  });

  test("Secret stringData is stored as base64 data", async () => {
    const secret = await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "auth" }, stringData: { password: "s3cret" } },
    });
    assert.deepEqual(
      [secret.data, secret.stringData, secret.type],
      [{ password: Buffer.from("s3cret").toString("base64") }, undefined, "Opaque"],
    );
  });

  test("label selectors and field selectors filter lists", async () => {
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "sel-a", labels: { app: "redis", tier: "a" } } },
    });
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "sel-b", labels: { app: "redis", tier: "b" } } },
    });
    const names = (list: { items: V1ConfigMap[] }) => list.items.map((i) => i.metadata?.name);
    assert.deepEqual(
      names(await core.listNamespacedConfigMap({ namespace: NS, labelSelector: "app=redis,tier!=a" })),
      ["sel-b"],
    );
    assert.deepEqual(
      names(await core.listNamespacedConfigMap({ namespace: NS, labelSelector: "tier in (a,b)" })),
      ["sel-a", "sel-b"],
    );
    assert.deepEqual(
      names(await core.listNamespacedConfigMap({ namespace: NS, fieldSelector: "metadata.name=sel-a" })),
      ["sel-a"],
    );
  });

  test("dryRun=All answers like a real create and stores nothing", async () => {
    const answer = await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "dry" } },
      dryRun: "All",
    });
    assert.equal(answer.metadata?.name, "dry");
    const missing = await failure(core.readNamespacedConfigMap({ name: "dry", namespace: NS }));
    assert.equal(missing.code, 404);
  });

  test("a finalizer keeps a deleted object until it is removed", async () => {
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "final", finalizers: ["example.com/hold"] } },
    });
    await core.deleteNamespacedConfigMap({ name: "final", namespace: NS });
    const held = await core.readNamespacedConfigMap({ name: "final", namespace: NS });
    assert.ok(held.metadata?.deletionTimestamp instanceof Date);
    await core.patchNamespacedConfigMap(
      { name: "final", namespace: NS, body: { metadata: { finalizers: null } } },
      merge,
    );
    assert.equal((await failure(core.readNamespacedConfigMap({ name: "final", namespace: NS }))).code, 404);
  });

  test("deleting an owner garbage-collects its dependents", async () => {
    const owner = (await custom.createNamespacedCustomObject({
      ...RC,
      body: { apiVersion: "redis.io/v1", kind: "RedisCluster", metadata: { name: "owner" }, spec: {} },
    })) as Obj;
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: {
        metadata: {
          name: "owned",
          ownerReferences: [
            {
              apiVersion: "redis.io/v1",
              kind: "RedisCluster",
              name: "owner",
              uid: owner.metadata.uid ?? "",
              controller: true,
            },
          ],
        },
      },
    });
    await custom.deleteNamespacedCustomObject({ ...RC, name: "owner" });
    await waitFor(
      async () =>
        (await failure(core.readNamespacedConfigMap({ name: "owned", namespace: NS }))).code === 404,
      { what: "the dependent to be deleted" },
    );
  });
});

describe("custom resources", () => {
  test("the CRD's defaults are applied and unknown fields pruned", async () => {
    const created = (await custom.createNamespacedCustomObject({
      ...RC,
      body: {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: "defaults" },
        spec: { bogus: 1, replicaMode: { enabled: true, source: { host: "east.example.com" } } },
      },
    })) as Obj;
    assert.deepEqual(created.spec, {
      instances: 1,
      mode: "standalone",
      replicaMode: { enabled: true, source: { host: "east.example.com", port: 6379 }, topology: "direct" },
    });
    assert.equal(created.metadata.generation, 1);
  });

  test("schema violations are a 422 Invalid with every cause", async () => {
    const status = await failure(
      custom.createNamespacedCustomObject({
        ...RC,
        body: {
          apiVersion: "redis.io/v1",
          kind: "RedisCluster",
          metadata: { name: "invalid" },
          spec: { instances: 0, mode: "cluster" },
        },
      }),
    );
    assert.deepEqual(
      [status.code, status.reason, status.message],
      [
        422,
        "Invalid",
        // An unsupported enum value stops the CEL rules, which the last cause says (as kube-apiserver 1.37).
        'RedisCluster.redis.io "invalid" is invalid: [spec.instances: Invalid value: 0: spec.instances in body should be greater than or equal to 1, spec.mode: Unsupported value: "cluster": supported values: "standalone", "sentinel", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]',
      ],
    );
  });

  test("the main endpoint ignores status, /status ignores spec, and generation follows spec only", async () => {
    const created = (await custom.createNamespacedCustomObject({
      ...RC,
      body: {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: "sub" },
        spec: { instances: 1 },
        status: { readyInstances: 5 },
      },
    })) as Obj;
    assert.equal(created.status, undefined);
    const withStatus = (await custom.patchNamespacedCustomObjectStatus(
      { ...RC, name: "sub", body: { spec: { instances: 7 }, status: { readyInstances: 1 } } },
      merge,
    )) as Obj;
    assert.deepEqual(
      [withStatus.spec?.instances, withStatus.status?.readyInstances, withStatus.metadata.generation],
      [1, 1, 1],
    );
    const withSpec = (await custom.patchNamespacedCustomObject(
      { ...RC, name: "sub", body: { spec: { instances: 3 }, status: { readyInstances: 9 } } },
      merge,
    )) as Obj;
    assert.deepEqual(
      [withSpec.spec?.instances, withSpec.status?.readyInstances, withSpec.metadata.generation],
      [3, 1, 2],
    );
    const labelsOnly = (await custom.patchNamespacedCustomObject(
      { ...RC, name: "sub", body: { metadata: { labels: { a: "b" } } } },
      merge,
    )) as Obj;
    assert.equal(labelsOnly.metadata.generation, 2);
  });

  test("a CEL transition rule rejects reverting a completed promotion", async () => {
    await custom.createNamespacedCustomObject({
      ...RC,
      body: {
        apiVersion: "redis.io/v1",
        kind: "RedisCluster",
        metadata: { name: "promoted" },
        spec: { replicaMode: { enabled: true, source: { host: "east.example.com" } } },
      },
    });
    await custom.patchNamespacedCustomObject(
      { ...RC, name: "promoted", body: { spec: { replicaMode: { promote: true } } } },
      merge,
    );
    await custom.patchNamespacedCustomObjectStatus(
      { ...RC, name: "promoted", body: { status: { promotion: { replicationId: "abc123" } } } },
      merge,
    );
    const status = await failure(
      custom.patchNamespacedCustomObject(
        { ...RC, name: "promoted", body: { spec: { replicaMode: { promote: false } } } },
        merge,
      ),
    );
    assert.deepEqual(
      [status.code, status.reason, status.message],
      [
        422,
        "Invalid",
        'RedisCluster.redis.io "promoted" is invalid: spec.replicaMode.promote: Forbidden: reverting a completed promotion discards every write made since; to confirm, set spec.replicaMode.demotionToken to "abc123" in the same request',
      ],
    );
    const confirmed = (await custom.patchNamespacedCustomObject(
      {
        ...RC,
        name: "promoted",
        body: { spec: { replicaMode: { promote: false, demotionToken: "abc123" } } },
      },
      merge,
    )) as Obj;
    assert.equal((confirmed.spec?.replicaMode as { promote: boolean }).promote, false);
  });

  test("an update of a custom resource without resourceVersion is refused", async () => {
    const created = (await custom.createNamespacedCustomObject({
      ...RC,
      body: { apiVersion: "redis.io/v1", kind: "RedisCluster", metadata: { name: "norv" }, spec: {} },
    })) as Obj;
    const body = { ...created, metadata: { name: "norv" } };
    const status = await failure(custom.replaceNamespacedCustomObject({ ...RC, name: "norv", body }));
    assert.deepEqual(
      [status.code, status.message],
      [
        422,
        // The generic registry's check: it names the resource, not the kind.
        'redisclusters.redis.io "norv" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update',
      ],
    );
  });
});

describe("watch", () => {
  test("a watch from a compacted resourceVersion gets an ERROR event with 410 Gone", async () => {
    const list = await core.listNamespacedConfigMap({ namespace: NS });
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "after-list" } } });
    sb.compact();
    const url = `${sb.apiUrl}/api/v1/namespaces/${NS}/configmaps?watch=1&resourceVersion=${list.metadata?.resourceVersion ?? ""}`;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      https
        .get(url, { ca: sb.sandbox.ca.certPem }, (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        })
        .on("error", reject);
    });
    const event = JSON.parse(text.trim()) as { type: string; object: { code: number; reason: string } };
    assert.deepEqual(
      [status, event.type, event.object.code, event.object.reason],
      [200, "ERROR", 410, "Expired"],
    );
  });

  test("an informer sees add, update and delete, resumes after watch failures, and relists after 410 Gone", async (t) => {
    const seen: string[] = [];
    // The informer's own requests (its label selector), as the API server sees them: "list", or "watch <rv>".
    const requests: string[] = [];
    const stopCounting = sb.sandbox.api.onRequest((req) => {
      const url = new URL(req.url ?? "", sb.apiUrl);
      if (url.pathname !== `/api/v1/namespaces/${NS}/configmaps`) return;
      if (url.searchParams.get("labelSelector") !== "informed=yes") return;
      const watch = url.searchParams.get("watch");
      requests.push(watch ? `watch ${url.searchParams.get("resourceVersion") ?? ""}` : "list");
    });
    const lists = () => requests.filter((r) => r === "list").length;
    const informer = makeInformer(
      sb.kubeConfig,
      `/api/v1/namespaces/${NS}/configmaps`,
      () => core.listNamespacedConfigMap({ namespace: NS, labelSelector: "informed=yes" }),
      "informed=yes",
    );
    const record = (verb: string) => (cm: V1ConfigMap) =>
      seen.push(`${verb} ${cm.metadata?.name ?? ""} ${cm.data?.v ?? ""}`);
    informer.on("add", record("add"));
    informer.on("update", record("update"));
    informer.on("delete", record("delete"));
    // As client-node recommends: an informer does not restart itself after an error.
    let stopped = false;
    informer.on("error", () => setTimeout(() => void (stopped || informer.start()), 100));
    t.after(async () => {
      stopped = true;
      await informer.stop();
      stopCounting();
    });
    await informer.start();
    const create = (name: string) =>
      core.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name, labels: { informed: "yes" } }, data: { v: "1" } },
      });
    const settle = (entry: string) =>
      waitFor(() => seen.includes(entry), { what: `informer to see "${entry}"` });

    await create("inf-1");
    await settle("add inf-1 1");
    await core.patchNamespacedConfigMap({ name: "inf-1", namespace: NS, body: { data: { v: "2" } } }, merge);
    await settle("update inf-1 2");
    await core.deleteNamespacedConfigMap({ name: "inf-1", namespace: NS });
    await settle("delete inf-1 2");

    sb.breakWatches(); // the stream ends: the informer watches again from its resourceVersion
    await create("inf-2");
    await settle("add inf-2 1");

    // The next watch fails with a 500: the error handler calls start(), which keeps the resourceVersion
    // (only a 410 clears it), so the informer resumes its watch without listing.
    sb.failNextWatches(1, 500);
    sb.breakWatches();
    const inf3 = await create("inf-3");
    await settle("add inf-3 1");
    assert.equal(lists(), 1, `no relist after a broken watch or a 500: ${requests.join(", ")}`);

    // An outage: every watch is refused while the informer keeps retrying. Meanwhile one of its objects is
    // deleted and another changed, which moves the server past the informer's resourceVersion, and then
    // compact() forgets the history up to the current one. Resuming now gets 410 Gone: the informer must
    // relist, and learns the delete and the change from the list, not from watch events.
    const staleRv = inf3.metadata?.resourceVersion ?? ""; // of the informer's last event
    const before = requests.length;
    sb.failNextWatches(1_000_000, 500);
    t.after(() => sb.failNextWatches(0)); // also when an assertion below fails: later tests need watches
    sb.breakWatches();
    await waitFor(() => requests.length >= before + 2, { what: "the informer to retry its watch" });
    await core.deleteNamespacedConfigMap({ name: "inf-2", namespace: NS });
    await core.patchNamespacedConfigMap({ name: "inf-3", namespace: NS, body: { data: { v: "2" } } }, merge);
    sb.compact();
    const compactedAt = Number(sb.sandbox.core.store.currentRv());
    sb.failNextWatches(0); // the outage ends
    await settle("delete inf-2 1");
    await settle("update inf-3 2");
    // The list's events are delivered before the informer opens its next watch: wait for that request.
    const sinceGone = () => requests.slice(requests.lastIndexOf(`watch ${staleRv}`));
    await waitFor(() => sinceGone().length >= 3, {
      what: `a watch after the relist: ${requests.join(", ")}`,
    });
    const [gone, relist, rewatch] = sinceGone();
    assert.deepEqual(
      [gone, relist, rewatch?.split(" ")[0]],
      [`watch ${staleRv}`, "list", "watch"],
      `a watch from the compacted resourceVersion, then a list, then a watch: ${requests.join(", ")}`,
    );
    assert.ok(Number(rewatch?.split(" ")[1]) >= compactedAt, `${rewatch ?? ""} resumes from the list`);
    assert.equal(lists(), 2);
    await create("inf-4");
    await settle("add inf-4 1");
    assert.deepEqual(
      informer.list(NS).map((cm) => `${cm.metadata?.name ?? ""} ${cm.data?.v ?? ""}`),
      ["inf-3 2", "inf-4 1"],
    );

    assert.deepEqual(seen, [
      "add inf-1 1",
      "update inf-1 2",
      "delete inf-1 2",
      "add inf-2 1",
      "add inf-3 1",
      "delete inf-2 1",
      "update inf-3 2",
      "add inf-4 1",
    ]);
  });
});
