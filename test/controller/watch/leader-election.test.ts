import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { V1MicroTime } from "@kubernetes/client-node";
import { decideLease } from "../../../controller/watch/leader-election.ts";

const now = new Date("2026-01-01T00:00:30Z");
const lease = (holderIdentity: string, renewedAt: string) => ({
  spec: { holderIdentity, leaseDurationSeconds: 15, renewTime: new V1MicroTime(renewedAt) },
});

describe("decideLease", () => {
  it("acquires a Lease nobody holds", () => {
    assert.equal(decideLease(undefined, "me", now), "acquire");
    assert.equal(decideLease({ spec: {} }, "me", now), "acquire");
  });
  it("renews its own Lease", () => {
    assert.equal(decideLease(lease("me", "2026-01-01T00:00:29Z"), "me", now), "renew");
  });
  it("waits while another holder keeps renewing", () => {
    assert.equal(decideLease(lease("other", "2026-01-01T00:00:20Z"), "me", now), "wait");
  });
  it("takes over a Lease its holder stopped renewing", () => {
    assert.equal(decideLease(lease("other", "2026-01-01T00:00:10Z"), "me", now), "acquire");
  });
});
