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
  });

  it("rejects an unknown flag and a bad port", () => {
    assert.throws(() => parseConfig(["--nope"], {}), /Unknown option '--nope'/);
    assert.throws(
      () => parseConfig(["--metrics-port", "70000"], {}),
      /--metrics-port must be a port number, got 70000/,
    );
  });
});
