/**
 * The admission chain with a tiny real HTTPS webhook: mutation (JSONPatch, before schema defaulting),
 * schema validation between the mutating and the validating webhooks, denial with the webhook's message,
 * warnings as `Warning` headers, the AdmissionReview of CREATE, UPDATE and DELETE, a response with the wrong
 * uid, failurePolicy Fail vs Ignore when the webhook is down, timeoutSeconds, dryRun, clientConfig.service
 * routing and namespaceSelector.
 */
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1MutatingWebhook,
  type V1ValidatingWebhook,
} from "@kubernetes/client-node";
import {
  freePort,
  issueServingCertificate,
  startSandbox,
  type TestSandbox,
} from "../../hack/sandbox/testing.ts";

/** 127.16.0.0/16: this file's sandbox. */
const RANGE = 16;
const RC = { group: "redis.io", version: "v1", plural: "redisclusters" };

interface Review {
  request: {
    uid: string;
    operation: string;
    dryRun: boolean;
    namespace: string;
    name: string;
    object: { spec?: { instances?: number; image?: string; mode?: string } } | null;
    oldObject: unknown;
    options: unknown;
    kind: { group: string; version: string; kind: string };
    resource: { group: string; version: string; resource: string };
    requestKind: unknown;
    requestResource: unknown;
    subResource?: string;
    userInfo: { username: string };
  };
}

let sb: TestSandbox;
let webhookServer: https.Server;
let webhookPort = 0;
let caBundle = "";
const reviews: Review["request"][] = [];
/** The path of every webhook call, in order. */
const calls: string[] = [];
let admission: AdmissionregistrationV1Api;
let custom: CustomObjectsApi;

before(async () => {
  sb = await startSandbox({ range: RANGE });
  admission = sb.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
  const certDir = join(sb.dir, "test-webhook");
  issueServingCertificate(sb.sandbox.ca, certDir, ["test-webhook.webhooks.svc"], ["127.0.0.1"]);
  caBundle = Buffer.from(sb.sandbox.ca.certPem).toString("base64");
  webhookServer = https.createServer(
    { cert: readFileSync(join(certDir, "tls.crt")), key: readFileSync(join(certDir, "tls.key")) },
    (req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        const review = JSON.parse(body) as Review;
        reviews.push(review.request);
        const path = (req.url ?? "").split("?")[0] ?? "";
        calls.push(path);
        const respond = (response: Record<string, unknown>) => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              apiVersion: "admission.k8s.io/v1",
              kind: "AdmissionReview",
              response: { uid: review.request.uid, ...response },
            }),
          );
        };
        if (path === "/mutate") {
          const patch = [
            { op: "add", path: "/metadata/labels", value: { "mutated-by": "test-webhook" } },
            { op: "add", path: "/spec/image", value: "redis:7.2-mutated" },
          ];
          respond({
            allowed: true,
            patchType: "JSONPatch",
            patch: Buffer.from(JSON.stringify(patch)).toString("base64"),
            warnings: ["defaulted by the test webhook"],
          });
        } else if (path === "/mutate-to-invalid") {
          // A value the CRD's schema refuses (minimum 1).
          const patch = [{ op: "replace", path: "/spec/instances", value: 0 }];
          respond({
            allowed: true,
            patchType: "JSONPatch",
            patch: Buffer.from(JSON.stringify(patch)).toString("base64"),
          });
        } else if (path === "/allow") {
          respond({ allowed: true });
        } else if (path === "/wrong-uid") {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              apiVersion: "admission.k8s.io/v1",
              kind: "AdmissionReview",
              response: { uid: "not-the-request-uid", allowed: true },
            }),
          );
        } else if (path === "/validate") {
          const instances = review.request.object?.spec?.instances ?? 0;
          if (instances > 5)
            respond({
              allowed: false,
              status: {
                code: 403,
                reason: "Forbidden",
                message: "spec.instances: Invalid value: 9: must be at most 5",
              },
            });
          else respond({ allowed: true, warnings: [`${instances} instances`] });
        } else if (path === "/slow") {
          setTimeout(() => respond({ allowed: true }), 3_000);
        } else {
          res.writeHead(404).end();
        }
      });
    },
  );
  await new Promise<void>((resolve) => webhookServer.listen(0, "127.0.0.1", resolve));
  webhookPort = (webhookServer.address() as AddressInfo).port;
});
after(async () => {
  webhookServer?.closeAllConnections();
  await new Promise((resolve) => webhookServer?.close(resolve));
  await sb?.stop();
});

const RULES = [
  {
    apiGroups: ["redis.io"],
    apiVersions: ["v1"],
    operations: ["CREATE", "UPDATE"],
    resources: ["redisclusters"],
    scope: "Namespaced",
  },
];

const byUrl = (path: string, port = webhookPort) => ({ url: `https://127.0.0.1:${port}${path}`, caBundle });

async function install(mutating: V1MutatingWebhook[], validating: V1ValidatingWebhook[]): Promise<void> {
  await admission.deleteCollectionMutatingWebhookConfiguration({});
  await admission.deleteCollectionValidatingWebhookConfiguration({});
  if (mutating.length > 0)
    await admission.createMutatingWebhookConfiguration({
      body: { metadata: { name: "test-mutating" }, webhooks: mutating },
    });
  if (validating.length > 0)
    await admission.createValidatingWebhookConfiguration({
      body: { metadata: { name: "test-validating" }, webhooks: validating },
    });
}

const webhook = (
  name: string,
  clientConfig: V1ValidatingWebhook["clientConfig"],
  extra: Partial<V1ValidatingWebhook> = {},
): V1ValidatingWebhook => ({
  name,
  clientConfig,
  rules: RULES,
  sideEffects: "None",
  admissionReviewVersions: ["v1"],
  failurePolicy: "Fail",
  timeoutSeconds: 2,
  ...extra,
});

const cluster = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: "redis.io/v1",
  kind: "RedisCluster",
  metadata: { name },
  spec,
});

/** Creates a RedisCluster over raw HTTPS to see the status code, body and Warning headers exactly. */
function rawCreate(
  namespace: string,
  body: unknown,
  query = "",
): Promise<{
  status: number;
  body: { message?: string; code?: number; reason?: string; spec?: unknown; metadata?: { labels?: unknown } };
  warnings: string[];
}> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      `${sb.apiUrl}/apis/redis.io/v1/namespaces/${namespace}/redisclusters${query}`,
      { method: "POST", ca: sb.sandbox.ca.certPem, headers: { "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => {
          // One Warning header per warning, as the API server sends them (node would join them with ", ").
          const warnings = res.rawHeaders.filter(
            (_, i) => i % 2 === 1 && res.rawHeaders[i - 1]?.toLowerCase() === "warning",
          );
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as never, warnings });
        });
      },
    );
    request.on("error", reject);
    request.end(JSON.stringify(body));
  });
}

beforeEach(() => {
  reviews.length = 0;
  calls.length = 0;
});

describe("admission webhooks", () => {
  test("mutating webhooks patch the object (already defaulted at decode, as Kubernetes does); warnings become Warning headers", async () => {
    await install(
      [webhook("mutate.test.io", byUrl("/mutate"))],
      [webhook("validate.test.io", byUrl("/validate"))],
    );
    const created = await rawCreate("default", cluster("mutated", { mode: "standalone" }));
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.metadata?.labels, { "mutated-by": "test-webhook" });
    assert.deepEqual(created.body.spec, { image: "redis:7.2-mutated", instances: 1, mode: "standalone" });
    assert.deepEqual(created.warnings, ['299 - "defaulted by the test webhook"', '299 - "1 instances"']);
    const [mutate, validate] = reviews;
    assert.deepEqual(
      [
        mutate?.operation,
        mutate?.kind.kind,
        mutate?.resource.resource,
        mutate?.namespace,
        mutate?.name,
        mutate?.dryRun,
        mutate?.userInfo.username,
      ],
      ["CREATE", "RedisCluster", "redisclusters", "default", "mutated", false, "kubernetes-admin"],
    );
    assert.deepEqual(
      [mutate?.oldObject, mutate?.options],
      [null, { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" }],
    );
    // Both see the schema's defaults; the validating webhook also sees the mutation.
    assert.deepEqual(
      [mutate?.object?.spec, validate?.object?.spec],
      [
        { instances: 1, mode: "standalone" },
        { image: "redis:7.2-mutated", instances: 1, mode: "standalone" },
      ],
    );
  });

  test("schema validation runs after the mutating webhooks and before the validating ones", async () => {
    await install(
      [webhook("mutate.test.io", byUrl("/mutate-to-invalid"))],
      [webhook("validate.test.io", byUrl("/validate"))],
    );
    const refused = await rawCreate("default", cluster("mutated-invalid", { instances: 3 }));
    assert.deepEqual(
      [refused.status, refused.body.reason, refused.body.message],
      [
        422,
        "Invalid",
        'RedisCluster.redis.io "mutated-invalid" is invalid: spec.instances: Invalid value: 0: spec.instances in body should be greater than or equal to 1',
      ],
    );
    // The mutating webhook saw the valid request; the validating webhook was never asked.
    assert.deepEqual([calls, reviews[0]?.object?.spec?.instances], [["/mutate-to-invalid"], 3]);
    await assert.rejects(
      custom.getNamespacedCustomObject({ ...RC, namespace: "default", name: "mutated-invalid" }),
      (e: unknown) => e instanceof ApiException && e.code === 404,
    );
  });

  test("a denial is reported with the webhook's name, message and code", async () => {
    await install([], [webhook("validate.test.io", byUrl("/validate"))]);
    const denied = await rawCreate("default", cluster("too-big", { instances: 9 }));
    assert.deepEqual(
      [denied.status, denied.body.reason, denied.body.message],
      [
        403,
        "Forbidden",
        'admission webhook "validate.test.io" denied the request: spec.instances: Invalid value: 9: must be at most 5',
      ],
    );
    await assert.rejects(
      custom.getNamespacedCustomObject({ ...RC, namespace: "default", name: "too-big" }),
      (e: unknown) => e instanceof ApiException && e.code === 404,
    );
  });

  test("a webhook that is down fails the request with failurePolicy Fail and is skipped with Ignore", async () => {
    const downPort = await freePort();
    await install([], [webhook("down.test.io", byUrl("/validate", downPort))]);
    const failed = await rawCreate("default", cluster("down-fail"));
    assert.deepEqual(
      [failed.status, failed.body.reason, failed.body.message],
      [
        500,
        "InternalError",
        `Internal error occurred: failed calling webhook "down.test.io": failed to call webhook: Post "https://127.0.0.1:${downPort}/validate?timeout=2s": dial tcp 127.0.0.1:${downPort}: connect: connection refused`,
      ],
    );
    await install([], [webhook("down.test.io", byUrl("/validate", downPort), { failurePolicy: "Ignore" })]);
    assert.equal((await rawCreate("default", cluster("down-ignore"))).status, 201);
  });

  test("a webhook slower than timeoutSeconds fails the request", async () => {
    await install([], [webhook("slow.test.io", byUrl("/slow"), { timeoutSeconds: 1 })]);
    const failed = await rawCreate("default", cluster("slow"));
    assert.deepEqual(
      [failed.status, failed.body.message],
      [
        500,
        `Internal error occurred: failed calling webhook "slow.test.io": failed to call webhook: Post "https://127.0.0.1:${webhookPort}/slow?timeout=1s": context deadline exceeded`,
      ],
    );
  });

  test("dryRun=All calls side-effect-free webhooks with dryRun and stores nothing; others refuse", async () => {
    await install(
      [webhook("mutate.test.io", byUrl("/mutate"))],
      [webhook("validate.test.io", byUrl("/validate"))],
    );
    const dry = await rawCreate("default", cluster("dry"), "?dryRun=All");
    assert.deepEqual([dry.status, reviews.map((r) => r.dryRun)], [201, [true, true]]);
    await assert.rejects(
      custom.getNamespacedCustomObject({ ...RC, namespace: "default", name: "dry" }),
      (e: unknown) => e instanceof ApiException && e.code === 404,
    );
    await install([], [webhook("effects.test.io", byUrl("/validate"), { sideEffects: "Some" })]);
    const refused = await rawCreate("default", cluster("dry2"), "?dryRun=All");
    assert.deepEqual(
      [refused.status, refused.body.message],
      [400, 'admission webhook "effects.test.io" does not support dry run'],
    );
  });

  test("clientConfig.service is routed to where the webhook listens; namespaceSelector excludes namespaces", async () => {
    sb.sandbox.routeService("webhooks", "test-webhook", { host: "127.0.0.1", port: webhookPort });
    const core = sb.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: "excluded" } } });
    await install(
      [],
      [
        webhook(
          "validate.test.io",
          {
            service: { namespace: "webhooks", name: "test-webhook", path: "/validate", port: 443 },
            caBundle,
          },
          {
            namespaceSelector: {
              matchExpressions: [
                { key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["excluded"] },
              ],
            },
          },
        ),
      ],
    );
    const denied = await rawCreate("default", cluster("svc-denied", { instances: 9 }));
    assert.equal(
      denied.body.message,
      'admission webhook "validate.test.io" denied the request: spec.instances: Invalid value: 9: must be at most 5',
    );
    const excluded = await rawCreate("excluded", cluster("not-reviewed", { instances: 9 }));
    assert.equal(excluded.status, 201);
    assert.equal(reviews.length, 1);
  });

  test("a response with another uid fails the request with failurePolicy Fail and is ignored with Ignore", async () => {
    await install([], [webhook("wrong-uid.test.io", byUrl("/wrong-uid"))]);
    const failed = await rawCreate("default", cluster("wrong-uid-fail"));
    assert.deepEqual(
      [failed.status, failed.body.reason, failed.body.message],
      [
        500,
        "InternalError",
        `Internal error occurred: failed calling webhook "wrong-uid.test.io": received invalid webhook response: expected response.uid="${reviews[0]?.uid ?? ""}", got "not-the-request-uid"`,
      ],
    );
    await install([], [webhook("wrong-uid.test.io", byUrl("/wrong-uid"), { failurePolicy: "Ignore" })]);
    assert.equal((await rawCreate("default", cluster("wrong-uid-ignore"))).status, 201);
    assert.equal(reviews.length, 2);
  });
});

describe("the AdmissionReview of updates and deletes", () => {
  const ALL_OPERATIONS = [{ ...RULES[0], operations: ["CREATE", "UPDATE", "DELETE"] }];
  const KIND = { group: "redis.io", version: "v1", kind: "RedisCluster" };
  const RESOURCE = { group: "redis.io", version: "v1", resource: "redisclusters" };
  /** What every webhook is told about the request, apart from the objects and options. */
  const envelope = (r: Review["request"] | undefined) => [
    r?.operation,
    r?.kind,
    r?.resource,
    r?.requestKind,
    r?.requestResource,
    r?.subResource,
    r?.namespace,
    r?.name,
    r?.dryRun,
    r?.userInfo.username,
  ];

  before(async () => {
    await install(
      [webhook("mutate.test.io", byUrl("/allow"), { rules: ALL_OPERATIONS })],
      [webhook("validate.test.io", byUrl("/allow"), { rules: ALL_OPERATIONS })],
    );
    await custom.createNamespacedCustomObject({
      ...RC,
      namespace: "default",
      body: cluster("reviewed", { instances: 1 }),
    });
  });

  test("an UPDATE carries the new object, the stored one as oldObject, and UpdateOptions", async () => {
    const stored = await custom.getNamespacedCustomObject({ ...RC, namespace: "default", name: "reviewed" });
    reviews.length = 0;
    await custom.patchNamespacedCustomObject(
      { ...RC, namespace: "default", name: "reviewed", body: { spec: { instances: 2 } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    assert.equal(reviews.length, 2);
    for (const review of reviews) {
      assert.deepEqual(envelope(review), [
        "UPDATE",
        KIND,
        RESOURCE,
        KIND,
        RESOURCE,
        undefined,
        "default",
        "reviewed",
        false,
        "kubernetes-admin",
      ]);
      assert.deepEqual(
        [review.object?.spec, review.oldObject, review.options],
        [
          { instances: 2, mode: "standalone" },
          stored,
          { kind: "UpdateOptions", apiVersion: "meta.k8s.io/v1" },
        ],
      );
    }
  });

  test("a DELETE goes to the mutating and validating webhooks with object null and the stored oldObject", async () => {
    const stored = await custom.getNamespacedCustomObject({ ...RC, namespace: "default", name: "reviewed" });
    reviews.length = 0;
    await custom.deleteNamespacedCustomObject({
      ...RC,
      namespace: "default",
      name: "reviewed",
      propagationPolicy: "Background",
    });
    assert.deepEqual(calls, ["/allow", "/allow"]);
    for (const review of reviews) {
      assert.deepEqual(envelope(review), [
        "DELETE",
        KIND,
        RESOURCE,
        KIND,
        RESOURCE,
        undefined,
        "default",
        "reviewed",
        false,
        "kubernetes-admin",
      ]);
      assert.deepEqual(
        [review.object, review.oldObject, review.options],
        [
          null,
          stored,
          { kind: "DeleteOptions", apiVersion: "meta.k8s.io/v1", propagationPolicy: "Background" },
        ],
      );
    }
    await assert.rejects(
      custom.getNamespacedCustomObject({ ...RC, namespace: "default", name: "reviewed" }),
      (e: unknown) => e instanceof ApiException && e.code === 404,
    );
  });
});
