import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig } from "../../controller/config.ts";

describe("parseConfig", () => {
  it("reads the documented flags", () => {
    const config = parseConfig(["--namespace", "dr", "--metrics-port", "9090", "--leader-elect"], {
      POD_NAME: "ctl-1",
    });
    assert.equal(config.namespace, "dr");
    assert.equal(config.metricsPort, 9090);
    assert.equal(config.leaderElect, true);
    assert.equal(config.leaseNamespace, "dr");
    assert.equal(config.identity, "ctl-1");
  });

  it("defaults to all namespaces, port 8080, no leader election, the pod's namespace for the Lease", () => {
    const config = parseConfig([], { POD_NAMESPACE: "redis-dr-system" });
    assert.equal(config.namespace, undefined);
    assert.equal(config.metricsPort, 8080);
    assert.equal(config.leaderElect, false);
    assert.equal(config.leaseNamespace, "redis-dr-system");
    assert.equal(config.resyncSeconds, 5);
    assert.equal(config.leaseDurationSeconds, 15);
    assert.equal(config.renewDeadlineSeconds, 10);
    assert.equal(config.retryPeriodSeconds, 2);
    assert.equal(config.backlogHorizonThresholdSeconds, 300);
    assert.equal(config.secretRefreshSeconds, 60);
    assert.equal(config.workers, 16);
  });

  it("reads how long a Secret read is used from the flag or SECRET_REFRESH_SECONDS, and refuses 0", () => {
    assert.equal(parseConfig(["--secret-refresh-seconds", "60s"], {}).secretRefreshSeconds, 60);
    assert.equal(parseConfig([], { SECRET_REFRESH_SECONDS: "1" }).secretRefreshSeconds, 1);
    assert.throws(
      () => parseConfig(["--secret-refresh-seconds", "0"], {}),
      /--secret-refresh-seconds must be a positive number of seconds, got 0/,
    );
  });

  it("reads the backlog horizon threshold in seconds and refuses a non-positive one", () => {
    assert.equal(
      parseConfig(["--backlog-horizon-threshold", "900s"], {}).backlogHorizonThresholdSeconds,
      900,
    );
    assert.throws(
      () => parseConfig(["--backlog-horizon-threshold", "0"], {}),
      /--backlog-horizon-threshold must be a positive number of seconds, got 0/,
    );
  });

  it("reads the leader election timings in seconds, with or without the unit", () => {
    const config = parseConfig(
      [
        "--leader-elect-lease-duration",
        "4s",
        "--leader-elect-renew-deadline",
        "3",
        "--leader-elect-retry-period",
        "0.5",
      ],
      {},
    );
    assert.equal(config.leaseDurationSeconds, 4);
    assert.equal(config.renewDeadlineSeconds, 3);
    assert.equal(config.retryPeriodSeconds, 0.5);
  });

  it("rejects leader election timings that would let two leaders act at once", () => {
    assert.throws(
      () => parseConfig(["--leader-elect-renew-deadline", "15"], {}),
      /^Error: leader election needs --leader-elect-retry-period < --leader-elect-renew-deadline < --leader-elect-lease-duration, got 2 s, 15 s, 15 s$/,
    );
    assert.throws(
      () => parseConfig(["--leader-elect-retry-period", "soon"], {}),
      /^Error: --leader-elect-retry-period must be a positive number of seconds, got soon$/,
    );
  });

  it("rejects an unknown flag and a bad port", () => {
    assert.throws(() => parseConfig(["--nope"], {}), /Unknown option '--nope'/);
    assert.throws(
      () => parseConfig(["--metrics-port", "70000"], {}),
      /--metrics-port must be a port number, got 70000/,
    );
  });
});
