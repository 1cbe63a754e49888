/**
 * The PrometheusRule's alerts, checked by Prometheus' own promtool: `check rules` accepts them, and
 * `test rules` shows each one firing (and only then) on series shaped like the controller's metrics.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import {
  MANIFESTS,
  get,
  kustomizeWithComponents,
  list,
  oneOf,
  parseObjects,
  requireTool,
  withTempDir,
} from "./helpers.ts";

const RULE_FILE = path.join(MANIFESTS, "monitoring/prometheus-rule/prometheus-rule.yaml");
const [prometheusRule] = parseObjects(readFileSync(RULE_FILE, "utf8"), "prometheus-rule.yaml");
const groups = get(prometheusRule, "spec", "groups");

interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly annotations: Readonly<Record<string, string>>;
}
const alertRules = list(prometheusRule, "spec", "groups").flatMap((group) =>
  list(group, "rules"),
) as AlertRule[];

/**
 * The annotation `name` of `alert`, rendered for `labels` and `value` the way Prometheus would, for the few
 * template forms the rules use (an unknown form fails the test rather than passing unrendered).
 */
function rendered(
  alert: string,
  name: string,
  labels: Readonly<Record<string, string>>,
  value: string,
): string {
  const template = alertRules.find((rule) => rule.alert === alert)?.annotations[name];
  assert.ok(template !== undefined, `${alert} has no annotation ${name}`);
  return template.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_match, expression: string) => {
    const label = /^\$labels\.(\w+)$/.exec(expression);
    if (label?.[1] !== undefined && labels[label[1]] !== undefined) return labels[label[1]] as string;
    if (expression === "$value | humanize1024" || expression === "$value | humanizeDuration") return value;
    throw new Error(`unexpected template expression in ${alert}.${name}: ${expression}`);
  });
}

function expectedAlert(
  alert: string,
  severity: string,
  labels: Readonly<Record<string, string>>,
  value = "",
): Record<string, unknown> {
  return {
    exp_labels: { ...labels, severity },
    exp_annotations: {
      summary: rendered(alert, "summary", labels, value),
      description: rendered(alert, "description", labels, value),
    },
  };
}

const lagging = { namespace: "production", cluster: "dr-redis", pod: "dr-redis-0" };
const cutOff = { namespace: "production", cluster: "dr-redis", pod: "dr-redis-1" };
const stalled = { namespace: "default", cluster: "redis-west" };
const failed = { namespace: "production", cluster: "dr-redis" };
const behind = { namespace: "production", cluster: "dr-redis" };
const shortBacklog = { namespace: "production", cluster: "dr-redis" };

/** `up` of a controller pod the service-monitor component scrapes (job from the Service's name label). */
const controllerUp = (instance: string, values: string) => ({
  series: `up{job="redis-dr-controller",namespace="redis-dr-system",service="redis-dr-controller-metrics",instance="${instance}"}`,
  values,
});
/** The webhook's targets are up throughout: they must not count as a controller. */
const webhookUp = {
  series: 'up{job="redis-dr-webhook",namespace="redis-dr-system",instance="10.0.1.1:8081"}',
  values: "1x15",
};
const controllerDown = (evalTime: string, firing: boolean) => ({
  eval_time: evalTime,
  alertname: "RedisDRControllerDown",
  exp_alerts: firing ? [expectedAlert("RedisDRControllerDown", "critical", {})] : [],
});

/** promtool's unit-test file: input series shaped like the controller's metrics, and the alerts expected. */
const unitTests = {
  rule_files: ["rules.yaml"],
  evaluation_interval: "1m",
  tests: [
    {
      interval: "1m",
      input_series: [
        // 20 MiB behind, reported by both controller replicas (a leader change): one alert, not two.
        {
          series:
            'redis_replication_lag_bytes{namespace="production",cluster="dr-redis",pod="dr-redis-0",instance="10.0.0.1:8080"}',
          values: "20971520x10",
        },
        {
          series:
            'redis_replication_lag_bytes{namespace="production",cluster="dr-redis",pod="dr-redis-0",instance="10.0.0.2:8080"}',
          values: "20971520x10",
        },
        // Exactly 10 MiB is not above the threshold.
        {
          series: 'redis_replication_lag_bytes{namespace="production",cluster="dr-redis",pod="dr-redis-2"}',
          values: "10485760x10",
        },
        // dr-redis-1's link goes down at 2m; dr-redis-0's stays up.
        {
          series: 'redis_master_link_up{namespace="production",cluster="dr-redis",pod="dr-redis-1"}',
          values: "1 1 0 0 0 0 0",
        },
        {
          series: 'redis_master_link_up{namespace="production",cluster="dr-redis",pod="dr-redis-0"}',
          values: "1x6",
        },
        // redis-west's promotion moves from CatchingUp to Promoting and then stays there; another one completes.
        {
          series: 'redis_promotion_phase{namespace="default",cluster="redis-west",phase="CatchingUp"}',
          values: "1 1 1 0x12",
        },
        {
          series: 'redis_promotion_phase{namespace="default",cluster="redis-west",phase="Promoting"}',
          values: "0 0 0 1x12",
        },
        {
          series: 'redis_promotion_phase{namespace="default",cluster="redis-east",phase="Completed"}',
          values: "1x15",
        },
        // dr-redis's promotion failed.
        {
          series: 'redis_promotion_phase{namespace="production",cluster="dr-redis",phase="Failed"}',
          values: "1x15",
        },
      ],
      alert_rule_test: [
        { eval_time: "4m", alertname: "RedisReplicationLagHigh", exp_alerts: [] },
        {
          eval_time: "6m",
          alertname: "RedisReplicationLagHigh",
          exp_alerts: [expectedAlert("RedisReplicationLagHigh", "warning", lagging, "20Mi")],
        },
        { eval_time: "2m", alertname: "RedisReplicationDown", exp_alerts: [] },
        {
          eval_time: "3m",
          alertname: "RedisReplicationDown",
          exp_alerts: [expectedAlert("RedisReplicationDown", "critical", cutOff)],
        },
        { eval_time: "9m", alertname: "RedisPromotionStalled", exp_alerts: [] },
        {
          eval_time: "10m",
          alertname: "RedisPromotionStalled",
          exp_alerts: [expectedAlert("RedisPromotionStalled", "critical", stalled)],
        },
        {
          eval_time: "1m",
          alertname: "RedisPromotionFailed",
          exp_alerts: [expectedAlert("RedisPromotionFailed", "critical", failed)],
        },
      ],
    },
    {
      // Both controller pods stop answering scrapes at 2m.
      interval: "1m",
      input_series: [
        controllerUp("10.0.0.1:8080", "1 1 0x13"),
        controllerUp("10.0.0.2:8080", "1 1 0x13"),
        webhookUp,
      ],
      alert_rule_test: [controllerDown("1m", false), controllerDown("6m", false), controllerDown("7m", true)],
    },
    {
      // dr-redis is 90 s behind, reported by both controller replicas; dr-other is exactly at 60 s. Then
      // dr-redis' source's backlog lasts 2 minutes for 20 minutes; dr-other's exactly the threshold.
      interval: "1m",
      input_series: [
        {
          series: 'redis_dr_rpo_seconds{namespace="production",cluster="dr-redis",instance="10.0.0.1:8080"}',
          values: "90x20",
        },
        {
          series: 'redis_dr_rpo_seconds{namespace="production",cluster="dr-redis",instance="10.0.0.2:8080"}',
          values: "90x20",
        },
        { series: 'redis_dr_rpo_seconds{namespace="production",cluster="dr-other"}', values: "60x20" },
        {
          series: 'redis_dr_backlog_horizon_seconds{namespace="production",cluster="dr-redis"}',
          values: "120x20",
        },
        {
          series: 'redis_dr_backlog_horizon_seconds{namespace="production",cluster="dr-other"}',
          values: "300x20",
        },
      ],
      alert_rule_test: [
        { eval_time: "4m", alertname: "RedisDRRPOHigh", exp_alerts: [] },
        {
          eval_time: "5m",
          alertname: "RedisDRRPOHigh",
          exp_alerts: [expectedAlert("RedisDRRPOHigh", "warning", behind, "1m 30s")],
        },
        { eval_time: "14m", alertname: "RedisDRBacklogHorizonShort", exp_alerts: [] },
        {
          eval_time: "15m",
          alertname: "RedisDRBacklogHorizonShort",
          exp_alerts: [expectedAlert("RedisDRBacklogHorizonShort", "warning", shortBacklog, "2m 0s")],
        },
      ],
    },
    {
      // RPO over 60 s that comes back under it before 5 minutes: no alert. No series at all: no alert.
      interval: "1m",
      input_series: [
        {
          series: 'redis_dr_rpo_seconds{namespace="production",cluster="dr-redis"}',
          values: "90 90 90 90 10 90 90 90 90",
        },
      ],
      alert_rule_test: [
        { eval_time: "8m", alertname: "RedisDRRPOHigh", exp_alerts: [] },
        { eval_time: "8m", alertname: "RedisDRBacklogHorizonShort", exp_alerts: [] },
      ],
    },
    {
      // One of the two is down for good; the other carries on (and takes over the Lease).
      interval: "1m",
      input_series: [
        controllerUp("10.0.0.1:8080", "1x15"),
        controllerUp("10.0.0.2:8080", "1 1 0x13"),
        webhookUp,
      ],
      alert_rule_test: [controllerDown("15m", false)],
    },
    {
      // No controller target at all (not deployed, or not scraped): absent from the first evaluation.
      interval: "1m",
      input_series: [webhookUp],
      alert_rule_test: [controllerDown("4m", false), controllerDown("5m", true)],
    },
  ],
};

describe("Prometheus alerting rules", () => {
  it("has the reference's alerts, the RPO and backlog alerts and the promotion alerts", () => {
    assert.deepEqual(
      alertRules.map((rule) => rule.alert),
      [
        "RedisReplicationLagHigh",
        "RedisReplicationDown",
        "RedisDRRPOHigh",
        "RedisDRBacklogHorizonShort",
        "RedisPromotionStalled",
        "RedisPromotionFailed",
        "RedisDRControllerDown",
      ],
    );
    assert.equal(
      oneOf([prometheusRule!], "PrometheusRule", "redis-dr").metadata.namespace,
      "redis-dr-system",
    );
  });

  it("RedisDRControllerDown watches the job the ServiceMonitor gives the controller's metrics Service", () => {
    const objects = kustomizeWithComponents(["monitoring/service-monitor", "monitoring/prometheus-rule"]);
    const jobLabel = String(get(oneOf(objects, "ServiceMonitor", "redis-dr"), "spec", "jobLabel"));
    const job = oneOf(objects, "Service", "redis-dr-controller-metrics").metadata.labels?.[jobLabel];
    assert.equal(job, "redis-dr-controller");
    const rule = alertRules.find((candidate) => candidate.alert === "RedisDRControllerDown");
    assert.equal(rule?.expr, `absent(up{job="${job}"} == 1)`);
  });

  it("promtool check rules accepts them", () => {
    requireTool("promtool");
    withTempDir((directory) => {
      const file = path.join(directory, "rules.yaml");
      writeFileSync(file, stringify({ groups }));
      const output = execFileSync("promtool", ["check", "rules", file], { encoding: "utf8" });
      assert.match(output, /SUCCESS: 7 rules found/);
    });
  });

  it("promtool test rules: each alert fires when, and only when, it should", () => {
    requireTool("promtool");
    withTempDir((directory) => {
      writeFileSync(path.join(directory, "rules.yaml"), stringify({ groups }));
      writeFileSync(path.join(directory, "tests.yaml"), stringify(unitTests));
      const result = spawnSync("promtool", ["test", "rules", "tests.yaml"], {
        cwd: directory,
        encoding: "utf8",
      });
      assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
      assert.match(result.stdout, /SUCCESS/);
    });
  });
});
