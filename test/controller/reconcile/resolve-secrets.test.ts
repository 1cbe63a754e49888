/**
 * When the controller reads a cluster's Secrets afresh instead of reusing a read (--secret-refresh-seconds):
 * while a condition a Secret could explain is False, and not for pods that do not exist.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { secretsMayExplain } from "../../../controller/reconcile/steps/resolve-secrets.ts";

const condition = (type: string, status: "True" | "False" | "Unknown", reason: string) => ({
  type,
  status,
  reason,
  message: "",
  lastTransitionTime: "2026-12-06T00:00:00Z",
});

const healthy = [
  condition("SecretsAvailable", "True", "Found"),
  condition("ReplicationHealthy", "True", "LinkUp"),
  condition("Ready", "True", "Ready"),
];
const replacing = (type: string, status: "True" | "False" | "Unknown", reason: string) =>
  healthy.map((c) => (c.type === type ? condition(type, status, reason) : c));

describe("secretsMayExplain", () => {
  it("a healthy cluster reuses its reads", () => {
    assert.equal(secretsMayExplain(healthy, 3), false);
    assert.equal(secretsMayExplain(undefined, 0), false);
  });

  it("a missing Secret or a broken link to the source: read afresh on every pass", () => {
    assert.equal(secretsMayExplain(replacing("SecretsAvailable", "False", "SecretNotFound"), 3), true);
    assert.equal(secretsMayExplain(replacing("ReplicationHealthy", "False", "LinkDown"), 3), true);
    assert.equal(secretsMayExplain(replacing("ReplicationHealthy", "False", "LinkDown"), 0), true);
  });

  it("pods that exist and are not ready: read afresh (their password may be what is wrong)", () => {
    assert.equal(secretsMayExplain(replacing("Ready", "False", "PodsNotReady"), 1), true);
    assert.equal(secretsMayExplain(replacing("Ready", "False", "NoPrimary"), 3), true);
    assert.equal(secretsMayExplain(replacing("Ready", "False", "Blocked"), 0), true);
  });

  it("no pod at all: no Secret explains that, and the reads are reused", () => {
    assert.equal(secretsMayExplain(replacing("Ready", "False", "PodsNotReady"), 0), false);
  });

  it("Unknown is not False", () => {
    assert.equal(
      secretsMayExplain(replacing("ReplicationHealthy", "Unknown", "LeaderUnreachable"), 3),
      false,
    );
  });
});
