import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FieldPath } from "../../../webhook/validation/field-path.ts";
import { checkSecrets } from "../../../webhook/validation/secrets.ts";
import {
  PASSWORD_KEYS,
  TLS_KEYS,
  type SecretRequirement,
} from "../../../webhook/validation/rules/secret-references.ts";
import { FakeSecrets } from "../support/fake-secrets.ts";
import { messages } from "../support/clusters.ts";

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

describe("checkSecrets", () => {
  test("accepts Secrets that exist with their keys", async () => {
    const secrets = new FakeSecrets()
      .with("default", "redis-password", ["password"])
      .with("default", "redis-tls", ["tls.crt", "tls.key", "ca.crt"]);
    assert.deepEqual(await checkSecrets([auth, tls], "default", secrets), []);
  });

  test("reports a missing Secret as not found in the object's namespace", async () => {
    const secrets = new FakeSecrets().with("other", "redis-password", ["password"]);
    assert.deepEqual(messages(await checkSecrets([auth], "default", secrets)), [
      'spec.authSecret.name: Not found: "redis-password": Secret "redis-password" not found in namespace "default"',
    ]);
    assert.deepEqual(secrets.lookups, ["default/redis-password"]);
  });

  test("names every missing key", async () => {
    const secrets = new FakeSecrets()
      .with("default", "redis-tls", ["tls.crt"])
      .with("default", "redis-password", []);
    assert.deepEqual(messages(await checkSecrets([tls, auth], "default", secrets)), [
      'spec.tlsSecret.name: Invalid value: "redis-tls": Secret "redis-tls" has no (or an empty) keys "tls.key", "ca.crt"',
      'spec.authSecret.name: Invalid value: "redis-password": Secret "redis-password" has no (or an empty) key "password"',
    ]);
  });

  test("gets a Secret named twice only once", async () => {
    const secrets = new FakeSecrets().with("default", "redis-password", ["password"]);
    assert.deepEqual(await checkSecrets([auth, sourceAuth], "default", secrets), []);
    assert.deepEqual(secrets.lookups, ["default/redis-password"]);
  });

  test("reports a Secret that could not be read as an internal error, without details of the failure", async () => {
    const secrets = new FakeSecrets()
      .failing("default", "redis-password")
      .failing("default", "redis-tls", new Error("socket hang up with secret-looking text"));
    assert.deepEqual(messages(await checkSecrets([auth, tls], "default", secrets)), [
      'spec.authSecret.name: Internal error: could not check Secret "redis-password": the Kubernetes API answered 403',
      'spec.tlsSecret.name: Internal error: could not check Secret "redis-tls": unexpected error',
    ]);
  });
});
