import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { V1MicroTime } from "@kubernetes/client-node";
import { decideLease, observeLease } from "../../../controller/watch/leader-election.ts";

const now = new Date("2026-01-01T00:00:30Z");
const lease = (holderIdentity: string, renewedAt: string) => ({
  spec: { holderIdentity, leaseDurationSeconds: 15, renewTime: new V1MicroTime(renewedAt) },
});

const at = (iso: string) => new Date(iso).getTime();

describe("decideLease", () => {
  it("acquires a Lease nobody holds", () => {
    assert.equal(
      decideLease(undefined, "me", at("2026-01-01T00:00:30Z"), at("2026-01-01T00:00:30Z")),
      "acquire",
    );
    assert.equal(
      decideLease({ spec: {} }, "me", at("2026-01-01T00:00:30Z"), at("2026-01-01T00:00:30Z")),
      "acquire",
    );
  });
  it("renews its own Lease", () => {
    const own = lease("me", "2026-01-01T00:00:29Z");
    assert.equal(decideLease(own, "me", at("2026-01-01T00:00:29Z"), now.getTime()), "renew");
  });
  it("waits while another holder's record keeps changing, and takes over one unchanged for the Lease's duration", () => {
    const held = lease("other", "2026-01-01T00:00:20Z");
    assert.equal(decideLease(held, "me", at("2026-01-01T00:00:20Z"), at("2026-01-01T00:00:34Z")), "wait");
    assert.equal(decideLease(held, "me", at("2026-01-01T00:00:20Z"), at("2026-01-01T00:00:36Z")), "acquire");
  });
});

describe("leader election under clock skew", () => {
  // The holder's clock runs an hour behind this candidate's: its renewTime looks an hour old.
  const slowHolder = (renewedAt: string) => lease("other", renewedAt);

  it("does not take over a live holder whose clock is behind (it renews every 2 s)", () => {
    let observed = observeLease(slowHolder("2025-12-31T23:00:00Z"), undefined, at("2026-01-01T00:00:00Z"));
    for (let second = 2; second <= 60; second += 2) {
      const nowMs = at("2026-01-01T00:00:00Z") + second * 1000;
      const renewed = slowHolder(new Date(at("2025-12-31T23:00:00Z") + second * 1000).toISOString());
      observed = observeLease(renewed, observed, nowMs);
      assert.equal(decideLease(renewed, "me", observed.at, nowMs), "wait", `after ${second} s`);
    }
  });

  it("takes over a dead holder whose clock was ahead, 15 s after its record stopped changing", () => {
    // renewTime an hour in the future: comparing it with the local clock would wait an hour.
    const dead = lease("other", "2026-01-01T01:00:00Z");
    const first = observeLease(dead, undefined, at("2026-01-01T00:00:00Z"));
    const later = observeLease(dead, first, at("2026-01-01T00:00:16Z"));
    assert.equal(later.at, first.at);
    assert.equal(decideLease(dead, "me", later.at, at("2026-01-01T00:00:10Z")), "wait");
    assert.equal(decideLease(dead, "me", later.at, at("2026-01-01T00:00:16Z")), "acquire");
  });
});
