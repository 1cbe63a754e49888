import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { judgeSource } from "../../../../controller/replication/decisions/source-continuity.ts";
import type { InstanceSnapshot } from "../../../../controller/redis/admin-port.ts";
import { D, R, S, pod, primary, replica } from "./snapshots.ts";

const source = (replid: string, keys: number, replid2?: string, runId = "new-run"): InstanceSnapshot => ({
  ...primary(replid, 100, replid2, replid2 === undefined ? -1 : 50, keys),
  runId,
});
const held = (keys: number) => [pod(0, replica(S, 900, {}, keys)), pod(1, replica(S, 800, {}, keys))];
const judge = (
  src: InstanceSnapshot,
  extra: Partial<Parameters<typeof judgeSource>[0]> = {},
  pods = held(100),
) =>
  judgeSource({
    cluster: "dr",
    sourceName: "east",
    source: src,
    followedId: S,
    followedRunId: "old-run",
    pods,
    accepted: undefined,
    ...extra,
  });

describe("judgeSource", () => {
  it("follows the history it followed, and a failover that kept it (replid2)", () => {
    assert.deepEqual(judge(source(S, 100)), { kind: "follow" });
    assert.deepEqual(judge(source(D, 100, S)), { kind: "follow" });
  });

  it("holds every pod off a source restarted on a new history with fewer keys", () => {
    const verdict = judge(source(R, 3));
    assert.equal(verdict.kind, "discontinuous");
    assert.equal(verdict.kind === "discontinuous" && verdict.reason, "HistoryRestarted");
    assert.deepEqual(verdict.kind === "discontinuous" && verdict.pods, ["dr-0", "dr-1"]);
    assert.match(
      verdict.kind === "discontinuous" ? verdict.message : "",
      new RegExp(`redis\\.io/accept-source-history=${R} --overwrite$`),
    );
  });

  it("asks for a sample when the restarted source holds as many keys, and follows the same dataset only", () => {
    assert.deepEqual(judge(source(R, 100)), { kind: "sample", pod: "dr-0" });
    assert.deepEqual(judge(source(R, 100), { sample: { sampled: 16, present: 12 } }), { kind: "follow" });
    assert.equal(judge(source(R, 100), { sample: { sampled: 16, present: 11 } }).kind, "discontinuous");
    assert.equal(judge(source(R, 100), { sample: { sampled: 0, present: 0 } }).kind, "discontinuous");
  });

  it("holds pods not linked to a source that lost more than half their keys, even on the same history", () => {
    const verdict = judge(source(S, 40));
    assert.equal(verdict.kind === "discontinuous" && verdict.reason, "KeysCollapsed");
  });

  it("follows what a human confirmed, the process it already judged, and anything while no pod holds a key", () => {
    assert.deepEqual(judge(source(R, 0), { accepted: R }), { kind: "follow" });
    assert.deepEqual(judge(source(R, 0, undefined, "old-run")), { kind: "follow" });
    assert.deepEqual(judge(source(R, 0), {}, held(0)), { kind: "follow" });
    assert.deepEqual(judge(source(R, 0), { followedId: undefined }), { kind: "follow" });
  });
});
