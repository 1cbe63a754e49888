/**
 * What the manifests and docs name exists: every metric an alert queries is one the programs export, and every
 * repository path the docs mention is there.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { MANIFESTS, REPO_ROOT, list, parseObjects } from "./helpers.ts";

/** Metric names registered in the programs' code (prom-client `name: "…"` options). */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  for (const folder of ["controller", "webhook"]) {
    const directory = path.join(REPO_ROOT, folder);
    for (const file of readdirSync(directory, { recursive: true, encoding: "utf8" })) {
      if (!file.endsWith(".ts")) continue;
      const source = readFileSync(path.join(directory, file), "utf8");
      for (const [, name] of source.matchAll(/\bname:\s*"([a-z_:][a-z0-9_:]*)"/g)) names.add(name ?? "");
    }
  }
  return names;
}

describe("references", () => {
  it("every metric the alerts query is exported by the controller or the webhook", () => {
    const [rule] = parseObjects(
      readFileSync(path.join(MANIFESTS, "monitoring/prometheus-rule/prometheus-rule.yaml"), "utf8"),
      "prometheus-rule.yaml",
    );
    const expressions = list(rule, "spec", "groups")
      .flatMap((group) => list(group, "rules"))
      .map((r) => String((r as { expr: unknown }).expr));
    const queried = new Set(
      expressions.flatMap((expr) => [...expr.matchAll(/\b(redis_[a-z0-9_]+)\b/g)].map((m) => m[1])),
    );
    const exported = exportedMetrics();
    assert.deepEqual(
      [...queried].filter((name) => name !== undefined && !exported.has(name)),
      [],
      "alerts query metrics nobody exports. RedisPromotionStalled/RedisPromotionFailed need the controller to " +
        "export redis_promotion_phase{namespace,cluster,phase}: 1 for the cluster's current " +
        "status.promotion.phase (no series when it was never promoted)",
    );
  });

  it("every manifests/, hack/, docs/ or test/ path the docs mention exists", () => {
    const docs = readdirSync(path.join(REPO_ROOT, "docs")).filter((file) => file.endsWith(".md"));
    const missing: string[] = [];
    for (const doc of docs) {
      const text = readFileSync(path.join(REPO_ROOT, "docs", doc), "utf8");
      for (const [reference] of text.matchAll(
        /\b(?:manifests|hack|docs|test)\/[A-Za-z0-9_./-]*[A-Za-z0-9_]/g,
      )) {
        if (!existsSync(path.join(REPO_ROOT, reference))) missing.push(`${doc}: ${reference}`);
      }
    }
    assert.deepEqual(missing, []);
  });
});
