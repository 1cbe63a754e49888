import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { choosePrimary, restartedPrimary } from "../../../controller/replication/sentinel.ts";
import { S, pod, primary, replica } from "../reconcile/decisions/snapshots.ts";

// A replica linked to dr-1 (10.0.0.2), and pods parked by their restart (replica() defaults to the hold address).
const following = (host: string) => replica(S, 500, { host, port: 6379, linkStatus: "up" });

describe("restartedPrimary: when the controller asks Sentinel to fail over", () => {
  it("asks when the pod the Sentinels name came back parked and another pod can take over", () => {
    const named = pod(0, replica(S, 0));
    assert.equal(restartedPrimary([named, pod(1, following("10.0.0.1")), pod(2)], named), named);
  });

  it("does not ask when that pod is only unreachable or slow: Sentinel judges that (down-after-milliseconds)", () => {
    const named = pod(0);
    assert.equal(restartedPrimary([named, pod(1, following("10.0.0.1"))], named), undefined);
  });

  it("does not ask when that pod was re-pointed without restarting (e.g. at an address leading back to itself)", () => {
    const named = pod(0, following("10.0.0.1"));
    assert.equal(restartedPrimary([named, pod(1, following("10.0.0.1"))], named), undefined);
  });

  it("does not ask when no other pod could take over (all parked or unreachable) or no Sentinel names one", () => {
    const named = pod(0, replica(S, 0));
    assert.equal(restartedPrimary([named, pod(1, replica(S, 0)), pod(2)], named), undefined);
    assert.equal(
      restartedPrimary([pod(0, replica(S, 0)), pod(1, following("10.0.0.1"))], undefined),
      undefined,
    );
  });
});

describe("choosePrimary", () => {
  it("takes the Sentinels' choice when that pod is a primary, else the only primary, else says why not", () => {
    const p0 = pod(0, primary(S, 500));
    const p1 = pod(1, primary(S, 500));
    const r2 = pod(2, following("10.0.0.1"));
    assert.equal(choosePrimary([p0, p1, r2], p1), p1);
    assert.equal(choosePrimary([p0, r2], r2), p0);
    assert.equal(choosePrimary([p0, p1, r2], undefined), "ambiguous");
    assert.equal(choosePrimary([pod(0, following("10.0.0.1")), r2], undefined), "none");
  });
});
