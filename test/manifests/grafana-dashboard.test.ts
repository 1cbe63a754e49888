/**
 * The Grafana dashboard for a DR pair: every PromQL query names only metrics the programs export (taken
 * from their own prom-client registries), it shows what an on-call engineer needs, and the monitoring/grafana
 * component ships it as the ConfigMap Grafana's dashboard sidecar loads.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { ControllerMetrics } from "../../controller/metrics/metrics.ts";
import { createMetrics } from "../../webhook/metrics.ts";
import { MANIFESTS, kustomizeWithComponents, oneOf } from "./helpers.ts";

const DASHBOARD_FILE = path.join(MANIFESTS, "monitoring/grafana/redis-dr-dashboard.json");
const dashboardText = readFileSync(DASHBOARD_FILE, "utf8");

interface Target {
  readonly expr: string;
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Dashboard {
  readonly uid: string;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly type: string; readonly definition?: string }[] };
}
const dashboard = JSON.parse(dashboardText) as Dashboard;
const allPanels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

/** The series names /metrics shows for the controller's and the webhook's registries. */
async function exportedSeries(): Promise<Set<string>> {
  const webhook = new Registry();
  createMetrics(webhook);
  const names = new Set<string>();
  for (const registry of [new ControllerMetrics().registry, webhook]) {
    for (const metric of await registry.getMetricsAsJSON()) {
      names.add(metric.name);
      if (String(metric.type) === "histogram") {
        for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${metric.name}${suffix}`);
      }
    }
  }
  return names;
}

/** PromQL's functions, aggregations and keywords the queries may use: any other identifier is a metric. */
const PROMQL_WORDS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "count",
  "rate",
  "irate",
  "increase",
  "delta",
  "histogram_quantile",
  "topk",
  "bottomk",
  "clamp_min",
  "clamp_max",
  "abs",
  "time",
  "timestamp",
  "max_over_time",
  "min_over_time",
  "and",
  "or",
  "unless",
  "bool",
  "offset",
]);

/** The metric names a PromQL expression selects (label matchers, ranges, grouping and strings removed). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, "")
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
  return [...bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)]
    .map((m) => m[0])
    .filter((word) => !PROMQL_WORDS.has(word));
}

/** Every query: panel targets and the variables' `label_values(metric…, label)` (its metric only). */
const queries = allPanels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const variableMetrics = dashboard.templating.list
  .filter((v) => v.type === "query")
  .map((v) => /^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/.exec(v.definition ?? "")?.[1] ?? v.definition);

describe("the Grafana dashboard", () => {
  it("reads metric names out of PromQL, and nothing else", () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{namespace="$namespace"}[$__rate_interval])))',
      ),
      ["a_seconds_bucket"],
    );
    assert.deepEqual(metricNames('max by (phase) (b_phase{cluster="x"}) == 1 or c_total'), [
      "b_phase",
      "c_total",
    ]);
  });

  it("queries only metrics the controller or the webhook exports", async () => {
    const exported = await exportedSeries();
    const named = [...queries.flatMap(metricNames), ...variableMetrics];
    assert.ok(named.length >= queries.length);
    assert.deepEqual(
      named.filter((name) => name === undefined || !exported.has(name)),
      [],
    );
    // The check catches a misspelt name.
    assert.equal(exported.has("redis_dr_rpo_second"), false);
  });

  it("shows lag, RPO, link, backlog horizon, write rate, promotions, data-loss window and reconcile errors", () => {
    const queried = new Set(queries.flatMap(metricNames));
    for (const metric of [
      "redis_replication_lag_bytes",
      "redis_dr_rpo_seconds",
      "redis_master_link_up",
      "redis_dr_backlog_horizon_seconds",
      "redis_dr_source_write_rate_bytes_per_second",
      "redis_promotion_phase",
      "redis_dr_promotion_data_loss_bytes",
      "redis_dr_controller_reconcile_errors_total",
    ]) {
      assert.ok(queried.has(metric), `no panel queries ${metric}`);
    }
  });

  it("selects one RedisCluster through its variables in every per-cluster query", () => {
    for (const expr of queries.filter((q) => /redis_(?!dr_controller_)/.test(q))) {
      assert.match(expr, /\{namespace="\$namespace", cluster="\$cluster"\}/, expr);
    }
  });

  it("has unique panel ids and a query in every panel but the rows", () => {
    const ids = allPanels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(
      allPanels.filter((p) => p.type !== "row" && (p.targets ?? []).length === 0).map((p) => p.title),
      [],
    );
  });

  it("ships as a ConfigMap the Grafana sidecar loads, from the monitoring/grafana component", () => {
    const objects = kustomizeWithComponents(["monitoring/grafana"]);
    const configMap = oneOf(objects, "ConfigMap", "redis-dr-dashboard");
    assert.equal(configMap.metadata.namespace, "redis-dr-system");
    assert.equal(configMap.metadata.labels?.["grafana_dashboard"], "1");
    const data = (configMap as unknown as { data: Record<string, string> }).data;
    assert.deepEqual(Object.keys(data), ["redis-dr-dashboard.json"]);
    assert.deepEqual(JSON.parse(data["redis-dr-dashboard.json"] ?? ""), dashboard);
  });
});
