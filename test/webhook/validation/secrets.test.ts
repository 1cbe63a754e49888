import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FieldPath } from "../../../kube-common/field-path.ts";
import { checkSecrets } from "../../../webhook/validation/secrets.ts";
import {
  PASSWORD_KEYS,
  TLS_KEYS,
  type SecretRequirement,
} from "../../../webhook/validation/rules/secret-references.ts";
import { FakeSecrets } from "../../support/fake-secrets.ts";
import { FakeAccess } from "../../support/fake-access.ts";
import { SecretReadError, type SecretReader } from "../../../webhook/validation/secrets.ts";
import type { UserInfo } from "../../../webhook/admission/types.ts";
import { messages } from "../../support/clusters.ts";

const auth: SecretRequirement = {
  path: FieldPath.root("spec", "authSecret", "name"),
  name: "redis-password",
  keys: PASSWORD_KEYS,
};
const tls: SecretRequirement = {
  path: FieldPath.root("spec", "tlsSecret", "name"),
  name: "redis-tls",
  keys: TLS_KEYS,
};
const sourceAuth: SecretRequirement = {
  path: FieldPath.root("spec", "replicaMode", "source", "authSecretName"),
  name: "redis-password",
  keys: PASSWORD_KEYS,
};

const ADMIN: UserInfo = { username: "kubernetes-admin", groups: ["system:masters", "system:authenticated"] };
const admin = (secrets: SecretReader) => ({
  namespace: "default",
  user: ADMIN,
  secrets,
  access: FakeAccess.allowingAll(),
});

describe("checkSecrets", () => {
  test("accepts Secrets that exist with their keys", async () => {
    const secrets = new FakeSecrets()
      .with("default", "redis-password", ["password"])
      .with("default", "redis-tls", ["tls.crt", "tls.key", "ca.crt"]);
    assert.deepEqual(await checkSecrets([auth, tls], admin(secrets)), []);
  });

  test("reports a missing Secret as not found in the object's namespace", async () => {
    const secrets = new FakeSecrets().with("other", "redis-password", ["password"]);
    assert.deepEqual(messages(await checkSecrets([auth], admin(secrets))), [
      'spec.authSecret.name: Not found: "redis-password": Secret "redis-password" not found in namespace "default"',
    ]);
    assert.deepEqual(secrets.lookups, ["default/redis-password"]);
  });

  test("names every missing key", async () => {
    const secrets = new FakeSecrets()
      .with("default", "redis-tls", ["tls.crt"])
      .with("default", "redis-password", []);
    assert.deepEqual(messages(await checkSecrets([tls, auth], admin(secrets))), [
      'spec.tlsSecret.name: Invalid value: "redis-tls": Secret "redis-tls" has no (or an empty) keys "tls.key", "ca.crt"',
      'spec.authSecret.name: Invalid value: "redis-password": Secret "redis-password" has no (or an empty) key "password"',
    ]);
  });

  test("gets a Secret named twice only once", async () => {
    const secrets = new FakeSecrets().with("default", "redis-password", ["password"]);
    assert.deepEqual(await checkSecrets([auth, sourceAuth], admin(secrets)), []);
    assert.deepEqual(secrets.lookups, ["default/redis-password"]);
  });

  test("reports a Secret that could not be read as an internal error, without details of the failure", async () => {
    const secrets = new FakeSecrets()
      .failing("default", "redis-password")
      .failing("default", "redis-tls", new Error("socket hang up with secret-looking text"));
    assert.deepEqual(messages(await checkSecrets([auth, tls], admin(secrets))), [
      'spec.authSecret.name: Internal error: could not check Secret "redis-password": the Kubernetes API answered 403',
      'spec.tlsSecret.name: Internal error: could not check Secret "redis-tls": unexpected error',
    ]);
  });

  describe("asks whether the requesting user may get each Secret (no confused deputy)", () => {
    const alice: UserInfo = {
      username: "alice",
      uid: "1f0c",
      groups: ["dev", "system:authenticated"],
      extra: { "example.com/team": ["payments"] },
    };

    test("refuses a Secret the user may not get, naming user, verb, Secret and namespace, and never looks it up", async () => {
      const secrets = new FakeSecrets().with("x", "east-auth", ["password"]);
      const access = new FakeAccess();
      const errors = await checkSecrets([{ ...sourceAuth, name: "east-auth" }], {
        namespace: "x",
        user: alice,
        secrets,
        access,
      });
      assert.deepEqual(messages(errors), [
        'spec.replicaMode.source.authSecretName: Forbidden: user "alice" may not get Secret "east-auth" in ' +
          'namespace "x": a RedisCluster may only name Secrets its author may read',
      ]);
      assert.deepEqual(access.reviews, [{ user: alice, namespace: "x", name: "east-auth" }]);
      assert.deepEqual(secrets.lookups, []);
    });

    test("says the same whether or not a Secret the user may not get exists", async () => {
      const existing = await checkSecrets([auth], {
        namespace: "x",
        user: alice,
        secrets: new FakeSecrets().with("x", "redis-password", ["password"]),
        access: new FakeAccess(),
      });
      const missing = await checkSecrets([auth], {
        namespace: "x",
        user: alice,
        secrets: new FakeSecrets(),
        access: new FakeAccess(),
      });
      assert.deepEqual(existing, missing);
    });

    test("checks a Secret the user may get as usual, asking once per distinct name", async () => {
      const secrets = new FakeSecrets().with("x", "redis-password", ["password"]);
      const access = new FakeAccess().granting("alice", "x", "redis-password");
      const context = { namespace: "x", user: alice, secrets, access };
      assert.deepEqual(await checkSecrets([auth, sourceAuth], context), []);
      assert.deepEqual(messages(await checkSecrets([tls], context)), [
        'spec.tlsSecret.name: Forbidden: user "alice" may not get Secret "redis-tls" in namespace "x": a ' +
          "RedisCluster may only name Secrets its author may read",
      ]);
      assert.deepEqual(
        access.reviews.map((r) => r.name),
        ["redis-password", "redis-tls"],
      );
    });

    test("fails closed when the API server cannot answer the review", async () => {
      const secrets = new FakeSecrets().with("x", "redis-password", ["password"]);
      const access = new FakeAccess().failingWith(
        new SecretReadError('could not ask whether user "alice" may get it: the Kubernetes API answered 500'),
      );
      assert.deepEqual(
        messages(await checkSecrets([auth], { namespace: "x", user: alice, secrets, access })),
        [
          'spec.authSecret.name: Internal error: could not check Secret "redis-password": could not ask ' +
            'whether user "alice" may get it: the Kubernetes API answered 500',
        ],
      );
      assert.deepEqual(secrets.lookups, []);
    });

    test("refuses every reference of a request that names no user or no namespace, looking nothing up", async () => {
      const secrets = new FakeSecrets().with("x", "redis-password", ["password"]);
      const access = FakeAccess.allowingAll();
      assert.deepEqual(
        messages(
          await checkSecrets([auth], {
            namespace: "x",
            user: { groups: ["system:masters"] },
            secrets,
            access,
          }),
        ),
        [
          "spec.authSecret.name: Forbidden: the request names no user (request.userInfo.username), so whether " +
            'they may get Secret "redis-password" cannot be checked',
        ],
      );
      assert.deepEqual(
        messages(await checkSecrets([auth], { namespace: "", user: ADMIN, secrets, access })),
        ["spec.authSecret.name: Forbidden: the request names no namespace, so no Secret is looked up"],
      );
      assert.deepEqual([access.reviews, secrets.lookups], [[], []]);
    });
  });
});
