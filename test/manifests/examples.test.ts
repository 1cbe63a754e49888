/**
 * The examples under manifests/examples/ go through the admission decisions the way the runbook uses them:
 * the webhook's real mutating and validating functions (with the Secrets the examples' comments say to
 * create), and the CRD's CEL rules, in the API server's order (mutate → schema and CEL → validate).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import fastJsonPatch from "fast-json-patch";
import { validateWithCel } from "../../hack/cel/kubernetes-cel.ts";
import { redisClusterSchema } from "../../schemas/rediscluster.ts";
import { mutateCluster, validateCluster } from "../../webhook/admission/admit.ts";
import type { AdmissionOutcome } from "../../webhook/admission/types.ts";
import { formatFieldError } from "../../kube-common/field-errors.ts";
import type { SecretReader } from "../../webhook/validation/secrets.ts";
import { MANIFESTS, parseObjects, type KubeObject } from "./helpers.ts";
import { FakeAccess } from "../support/fake-access.ts";

/** Secrets by "namespace/name", as key-name sets (the webhook only ever sees key names). */
class Secrets implements SecretReader {
  private readonly secrets = new Map<string, ReadonlySet<string>>();
  with(namespace: string, name: string): this {
    this.secrets.set(`${namespace}/${name}`, new Set(["password"]));
    return this;
  }
  async secretKeys(namespace: string, name: string): Promise<ReadonlySet<string> | undefined> {
    return this.secrets.get(`${namespace}/${name}`);
  }
}

function example(file: string): KubeObject {
  const [object] = parseObjects(readFileSync(path.join(MANIFESTS, "examples", file), "utf8"), file);
  assert.ok(object);
  return object;
}

type Admission =
  | { readonly allowed: true; readonly object: KubeObject; readonly warnings: readonly string[] }
  | { readonly allowed: false; readonly message: string };

const messageOf = (outcome: AdmissionOutcome & { allowed: false }) => outcome.status.message ?? "";

/** CREATE or UPDATE through mutate, the CRD's schema rules, and validate. */
async function admit(secrets: SecretReader, object: KubeObject, old?: KubeObject): Promise<Admission> {
  const request = {
    uid: "00000000-0000-4000-8000-000000000000",
    operation: old === undefined ? ("CREATE" as const) : ("UPDATE" as const),
    name: object.metadata.name,
    namespace: object.metadata.namespace ?? "default",
    userInfo: { username: "kubernetes-admin", groups: ["system:masters", "system:authenticated"] },
    object,
    ...(old === undefined ? {} : { oldObject: old }),
  };
  const mutated = await mutateCluster(request);
  if (!mutated.allowed) return { allowed: false, message: messageOf(mutated) };
  // deepClone gives fast-json-patch its own mutable operations (ours are readonly).
  const operations = fastJsonPatch.deepClone(mutated.patch ?? []) as fastJsonPatch.Operation[];
  const defaulted = fastJsonPatch.applyPatch(structuredClone(object), operations, true).newDocument;
  const celErrors = validateWithCel(redisClusterSchema, defaulted, old);
  if (celErrors.length > 0) return { allowed: false, message: celErrors.map(formatFieldError).join("; ") };
  const validated = await validateCluster({ secrets, access: FakeAccess.allowingAll() })({
    ...request,
    object: defaulted,
  });
  if (!validated.allowed) return { allowed: false, message: messageOf(validated) };
  return { allowed: true, object: defaulted, warnings: validated.warnings ?? [] };
}

async function admitted(secrets: SecretReader, object: KubeObject, old?: KubeObject) {
  const result = await admit(secrets, object, old);
  assert.ok(result.allowed, result.allowed ? "" : result.message);
  return result;
}

/** The object as the controller would have left it: a status with the link up, or a completed promotion. */
function withStatus(object: KubeObject, status: Record<string, unknown>): KubeObject {
  return { ...object, metadata: { ...object.metadata }, status };
}
const linkUp = { replication: { linkStatus: "Up", lagBytes: 0 } };
const promoted = {
  promotion: { phase: "Completed", replicationId: "5e3c8f7a0b1d2c4e6f8a9b0c1d2e3f4a5b6c7d8e" },
};
const withReplicaMode = (object: KubeObject, replicaMode: Record<string, unknown>): KubeObject => {
  const spec = object["spec"] as Record<string, unknown>;
  const current = spec["replicaMode"] as Record<string, unknown>;
  return { ...object, spec: { ...spec, replicaMode: { ...current, ...replicaMode } } };
};

describe("the basic example through admission", () => {
  const secrets = new Secrets().with("production", "prod-redis-auth").with("production", "dr-redis-auth");

  it("admits prod-redis and dr-redis once the Secrets their comments name exist", async () => {
    const prod = await admitted(secrets, example("basic/prod-redis.yaml"));
    assert.deepEqual(prod.warnings, []);
    const dr = await admitted(secrets, example("basic/dr-redis.yaml"));
    assert.deepEqual(dr.warnings, []);
  });

  it("refuses dr-redis before its Secrets exist, naming each one", async () => {
    const result = await admit(new Secrets(), example("basic/dr-redis.yaml"));
    assert.equal(result.allowed, false);
    assert.match(result.allowed ? "" : result.message, /spec\.authSecret\.name: Not found: "dr-redis-auth"/);
    assert.match(
      result.allowed ? "" : result.message,
      /spec\.replicaMode\.source\.authSecretName: Not found: "prod-redis-auth"/,
    );
  });

  it("admits the reference's promotion, refuses the naive revert and accepts it with the demotionToken", async () => {
    const dr = withStatus((await admitted(secrets, example("basic/dr-redis.yaml"))).object, linkUp);
    await admitted(secrets, withReplicaMode(dr, { promote: true }), dr);

    const promotedDr = withStatus(withReplicaMode(dr, { promote: true }), promoted);
    const naive = await admit(secrets, withReplicaMode(promotedDr, { promote: false }), promotedDr);
    assert.equal(naive.allowed, false);
    assert.match(
      naive.allowed ? "" : naive.message,
      /demotionToken to "5e3c8f7a0b1d2c4e6f8a9b0c1d2e3f4a5b6c7d8e"/,
    );

    const confirmed = await admitted(
      secrets,
      withReplicaMode(promotedDr, { promote: false, demotionToken: promoted.promotion.replicationId }),
      promotedDr,
    );
    assert.deepEqual(confirmed.warnings, [
      "spec.replicaMode.enabled: data will be replaced by a full copy of prod-redis-us-east " +
        "(prod-redis-leader.production.svc.cluster.local:6379); writes since the promotion are lost",
    ]);
  });
});

describe("the cross-region example through admission", () => {
  const secrets = new Secrets().with("default", "redis-password");

  it("admits redis-east and redis-west with the one shared Secret", async () => {
    await admitted(secrets, example("cross-region/redis-east.yaml"));
    await admitted(secrets, example("cross-region/redis-west.yaml"));
  });

  it("admits the failback of redis-east, keeping its mode and region, with the data-replaced warning", async () => {
    const east = withStatus((await admitted(secrets, example("cross-region/redis-east.yaml"))).object, {});
    const failback = example("cross-region/redis-east-failback.yaml");
    const spec = failback["spec"] as Record<string, unknown>;
    const eastSpec = east["spec"] as Record<string, unknown>;
    // Everything but replicaMode is what redis-east already had.
    assert.deepEqual({ ...spec, replicaMode: undefined }, { ...eastSpec, replicaMode: undefined });
    const result = await admitted(secrets, failback, east);
    assert.deepEqual(result.warnings, [
      "spec.replicaMode.enabled: data will be replaced by a full copy of redis-west (192.0.2.20:6379); " +
        "keys written here are lost",
    ]);
  });

  it("selects the primary pod of each region in its LoadBalancer Service", () => {
    for (const [file, cluster] of [
      ["cross-region/redis-east-external.yaml", "redis-east"],
      ["cross-region/redis-west-external.yaml", "redis-west"],
    ] as const) {
      const service = example(file);
      const spec = service["spec"] as Record<string, unknown>;
      assert.equal(spec["type"], "LoadBalancer");
      assert.deepEqual(spec["selector"], { "redis.io/cluster": cluster, "redis.io/role": "primary" });
      assert.ok(Array.isArray(spec["loadBalancerSourceRanges"]), `${file} limits who may connect`);
    }
  });
});
