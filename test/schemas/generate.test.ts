import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { renderGeneratedFiles } from "../../schemas/generate.ts";

const ROOT = new URL("../../", import.meta.url);

test("the committed generated files equal what `npm run gen` produces", async () => {
  const files = await renderGeneratedFiles();
  assert.deepEqual([...files.keys()].sort(), [
    "manifests/crd/redis.io_redisclusters.yaml",
    "schemas/generated/rediscluster.ts",
  ]);
  for (const [path, expected] of files) {
    const committed = await readFile(new URL(path, ROOT), "utf8");
    assert.equal(committed, expected, `${path} is stale: run npm run gen`);
  }
});

test("generation is deterministic", async () => {
  const first = await renderGeneratedFiles();
  const second = await renderGeneratedFiles();
  assert.deepEqual([...first.entries()], [...second.entries()]);
});
