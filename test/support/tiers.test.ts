/**
 * Every test file belongs to exactly one tier (hack/test.sh, test/README.md): its suffix says which, and
 * what it imports agrees — a unit file starts no redis-server and no API server, a redis file no API server.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TIERS = ["unit", "redis", "e2e"] as const;

const listed = (tier: string): string[] =>
  execFileSync("bash", ["hack/test.sh", "--list", tier], { cwd: REPO_ROOT, encoding: "utf8" })
    .split("\n")
    .filter((line) => line !== "");

const testFiles = (readdirSync(path.join(REPO_ROOT, "test"), { recursive: true }) as string[])
  .map((file) => path.posix.join("test", file.split(path.sep).join("/")))
  .filter((file) => file.endsWith(".test.ts"))
  .sort();

// Helpers whose import means the file starts processes of a higher tier.
const STARTS_REDIS = [/\/dr-harness\.ts"/, /\/sentinel-process\.ts"/, /\bnew RedisProcess\b/];
const STARTS_API_SERVER = [
  /hack\/sandbox\/testing\.ts"/,
  /hack\/k8s\/testing\.ts"/,
  /\/region-fixture\.ts"/,
  /hack\/sandbox\/(main|sandbox|operator)\.ts"/,
];

const offending = (files: readonly string[], patterns: readonly RegExp[]): string[] =>
  files.filter((file) => {
    const source = readFileSync(path.join(REPO_ROOT, file), "utf8");
    return patterns.some((pattern) => pattern.test(source));
  });

describe("test tiers", () => {
  const byTier = new Map(TIERS.map((tier) => [tier, listed(tier)]));

  it("put every test file under test/ in exactly one tier", () => {
    const counted = [...byTier.values()].flat().sort();
    assert.deepEqual(counted, testFiles);
    assert.deepEqual(listed("all"), testFiles);
  });

  it("keep redis-server and API servers out of the unit tier", () => {
    assert.deepEqual(offending(byTier.get("unit") ?? [], [...STARTS_REDIS, ...STARTS_API_SERVER]), []);
  });

  it("keep API servers out of the redis tier", () => {
    assert.deepEqual(offending(byTier.get("redis") ?? [], STARTS_API_SERVER), []);
  });
});
