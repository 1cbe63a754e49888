import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { validateWithCel } from "../../hack/cel/kubernetes-cel.ts";
import { redisClusterSchema } from "../../schemas/rediscluster.ts";
import { formatFieldError } from "../../kube-common/field-errors.ts";
import { FieldPath } from "../../kube-common/field-path.ts";
import { validateClusterName } from "../../webhook/validation/rules/cluster-name.ts";
import type { RedisCluster } from "../../schemas/generated/rediscluster.ts";
import { validateStructure } from "../../webhook/validation/structural.ts";

const DIR = new URL("../fixtures/reference/", import.meta.url);

/** The RedisCluster manifests of spec/replica-mode-reference.txt, completed where the reference gives a snippet. */
const files = (await readdir(DIR)).filter((f) => f.endsWith(".yaml")).sort();

test("the reference's RedisCluster manifests are all here", () => {
  assert.deepEqual(files, [
    "dr-redis-promote.yaml",
    "dr-redis.yaml",
    "prod-redis.yaml",
    "redis-east-min-sync.yaml",
    "redis-east-recover.yaml",
    "redis-east.yaml",
    "redis-west-failover.yaml",
    "redis-west-tls.yaml",
    "redis-west.yaml",
  ]);
});

for (const file of files) {
  test(`${file} is a valid RedisCluster (schema, CEL rules, and a name the webhook accepts)`, async () => {
    const documents = parseAllDocuments(await readFile(new URL(file, DIR), "utf8"));
    assert.equal(documents.length, 1);
    const object: unknown = documents[0]?.toJS();
    assert.equal((object as { kind?: string }).kind, "RedisCluster");
    assert.deepEqual(validateStructure(object).map(formatFieldError), []);
    assert.deepEqual(validateWithCel(redisClusterSchema, object, undefined).map(formatFieldError), []);
    assert.deepEqual(validateClusterName(object as RedisCluster, FieldPath.root()), []);
  });
}
