/**
 * The webhook answers only about the namespace of the object under admission: Secrets are looked up (and
 * access to them reviewed) there and nowhere else, and nothing in an answer depends on what exists in another
 * namespace. A review whose object claims another namespace than the request is not answered.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { validateCluster } from "../../../webhook/admission/admit.ts";
import type { AdmissionRequest } from "../../../webhook/admission/types.ts";
import { FakeSecrets } from "../../support/fake-secrets.ts";
import { FakeAccess } from "../../support/fake-access.ts";
import { cluster, SOURCE } from "../../support/clusters.ts";

const USER = { username: "alice", groups: ["system:authenticated"] };

function create(objectNamespace: string | undefined, requestNamespace = "team-a"): AdmissionRequest {
  const object = cluster({
    authSecret: { name: "shared-auth" },
    replicaMode: { enabled: true, source: { ...SOURCE, authSecretName: "shared-auth" } },
  }) as unknown as { metadata: Record<string, unknown> };
  const metadata = { ...object.metadata };
  if (objectNamespace === undefined) delete metadata.namespace;
  else metadata.namespace = objectNamespace;
  return {
    uid: "u",
    operation: "CREATE",
    name: "redis-west",
    namespace: requestNamespace,
    userInfo: USER,
    object: { ...object, metadata },
  };
}

describe("namespace scoping", () => {
  test("looks Secrets up, and asks about them, in the request's namespace only", async () => {
    const secrets = new FakeSecrets().with("kube-system", "shared-auth", ["password"]);
    const access = FakeAccess.allowingAll();
    const outcome = await validateCluster({ secrets, access })(create(undefined));
    assert.equal(outcome.allowed, false);
    assert.deepEqual(secrets.lookups, ["team-a/shared-auth"]);
    assert.deepEqual(
      access.reviews.map((r) => `${r.namespace}/${r.name}`),
      ["team-a/shared-auth"],
    );
  });

  test("answers the same whether a Secret of that name exists in another namespace or not", async () => {
    const access = FakeAccess.allowingAll();
    const elsewhere = await validateCluster({
      secrets: new FakeSecrets().with("kube-system", "shared-auth", ["password"]),
      access,
    })(create("team-a"));
    const nowhere = await validateCluster({ secrets: new FakeSecrets(), access })(create("team-a"));
    assert.deepEqual(elsewhere, nowhere);
  });

  for (const [what, request] of [
    ["object", create("kube-system")],
    [
      "oldObject",
      {
        ...create("team-a"),
        operation: "UPDATE" as const,
        oldObject: (create("kube-system") as { object: unknown }).object,
      },
    ],
  ] as const) {
    test(`refuses a review whose ${what} claims another namespace than the request, looking nothing up`, async () => {
      const secrets = new FakeSecrets().with("kube-system", "shared-auth", ["password"]);
      const access = FakeAccess.allowingAll();
      assert.deepEqual(await validateCluster({ secrets, access })(request), {
        allowed: false,
        status: {
          status: "Failure",
          code: 400,
          reason: "BadRequest",
          message: `request.${what}.metadata.namespace "kube-system" differs from request.namespace "team-a"`,
        },
      });
      assert.deepEqual([secrets.lookups, access.reviews], [[], []]);
    });
  }
});
