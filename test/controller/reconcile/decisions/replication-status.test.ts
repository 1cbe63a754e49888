import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  podReplicationFigures,
  replicationReport,
} from "../../../../controller/replication/decisions/replication-status.ts";
import type { ClusterIntent } from "../../../../controller/model/intent.ts";
import { D, S, pod, primary, replica } from "./snapshots.ts";

const intent: ClusterIntent = {
  kind: "replicate",
  source: { host: "35.1.2.3", port: 6379, clusterName: "redis-east" },
  topology: "direct",
};
const now = new Date("2026-01-01T00:10:00Z");
const linked = (offset: number) => replica(S, offset, { host: "35.1.2.3", port: 6379, linkStatus: "up" });
const cut = (offset: number, downFor: number) =>
  replica(S, offset, { host: "35.1.2.3", port: 6379, linkStatus: "down", linkDownSinceSeconds: downFor });

describe("replicationReport", () => {
  it("measures lag against the source's own offset", () => {
    assert.deepEqual(
      replicationReport({
        intent,
        pods: [pod(0, linked(1000))],
        sourceOffset: 1011,
        previous: undefined,
        promotionPhase: undefined,
        now,
      }),
      {
        link: "Up",
        replication: {
          replicatingFrom: "redis-east",
          sourceEndpoint: "35.1.2.3:6379",
          linkStatus: "Up",
          leaderOffset: 1000,
          sourceOffset: 1011,
          sourceLastSeen: now.toISOString(),
          lagBytes: 11,
          lastSyncTime: now.toISOString(),
        },
      },
    );
  });

  it("keeps reporting lag against the last known source offset while the source cannot be asked", () => {
    const previous = {
      linkStatus: "Down" as const,
      sourceOffset: 5000,
      linkDownSince: "2026-01-01T00:09:00Z",
    };
    const report = replicationReport({
      intent,
      pods: [pod(0, cut(1000, 70))],
      sourceOffset: undefined,
      previous,
      promotionPhase: undefined,
      now,
    });
    assert.equal(report.replication?.lagBytes, 4000);
    assert.equal(report.replication?.sourceLastSeen, undefined);
    assert.equal(report.replication?.linkDownSince, "2026-01-01T00:09:00Z");
    // When it was last seen is kept with the offset: the lag is a lower bound from then on.
    const seen = replicationReport({
      intent,
      pods: [pod(0, cut(1000, 70))],
      sourceOffset: undefined,
      previous: { ...previous, sourceLastSeen: "2026-01-01T00:08:50.000Z" },
      promotionPhase: undefined,
      now,
    });
    assert.equal(seen.replication?.sourceLastSeen, "2026-01-01T00:08:50.000Z");
    assert.equal(report.replication?.linkDownSeconds, 60);
  });

  it("keeps the old history's source offset until the leader follows the source's new history", () => {
    // The source restarted without its data: the controller sees its new history (offset 14) before the
    // leader has resynchronised from it (still replication ID S, link down).
    const previous = { linkStatus: "Up" as const, sourceOffset: 20_000, sourceReplicationId: S };
    const waiting = replicationReport({
      intent,
      pods: [pod(0, cut(20_000, 1))],
      sourceOffset: 14,
      previous,
      promotionPhase: undefined,
      now,
    });
    assert.equal(waiting.replication?.sourceOffset, 20_000);
    // The leader is on the new history (its ID is no longer S): the new offset is reported, and the change of
    // ID is judged against 20 000 (SourceHistoryReset).
    const followed = replicationReport({
      intent,
      pods: [pod(0, replica(D, 14, { host: "35.1.2.3", port: 6379, linkStatus: "up" }))],
      sourceOffset: 14,
      previous: { ...previous, sourceOffset: waiting.replication?.sourceOffset ?? 0 },
      promotionPhase: undefined,
      now,
    });
    assert.equal(followed.replication?.sourceOffset, 14);
    assert.equal(followed.replication?.lagBytes, 0);
    // Within one history the offset only grows, and a growing one is reported at once.
    const grown = replicationReport({
      intent,
      pods: [pod(0, linked(20_000))],
      sourceOffset: 20_500,
      previous,
      promotionPhase: undefined,
      now,
    });
    assert.equal(grown.replication?.sourceOffset, 20_500);
  });

  it("dates a newly seen down link from Redis' own down-since counter", () => {
    const report = replicationReport({
      intent,
      pods: [pod(0, cut(1000, 30))],
      sourceOffset: 1200,
      previous: undefined,
      promotionPhase: undefined,
      now,
    });
    assert.equal(report.replication?.linkDownSince, "2026-01-01T00:09:30.000Z");
    assert.equal(report.replication?.linkDownSeconds, 30);
    assert.equal(report.link, "Down");
  });

  it("keeps the last replication figures during a promotion and drops them once it completed", () => {
    const promote: ClusterIntent = { kind: "promote", source: intent.source };
    const previous = { linkStatus: "Up" as const, sourceOffset: 5000, leaderOffset: 4990, lagBytes: 10 };
    const during = {
      intent: promote,
      pods: [pod(0, primary(S, 4990))],
      sourceOffset: undefined,
      previous,
      now,
    };
    assert.deepEqual(replicationReport({ ...during, promotionPhase: "Reattaching" }).replication, previous);
    assert.equal(replicationReport({ ...during, promotionPhase: "Completed" }).replication, undefined);
  });

  it("reports Unknown when the leader cannot be asked", () => {
    assert.equal(
      replicationReport({
        intent,
        pods: [pod(0)],
        sourceOffset: 10,
        previous: undefined,
        promotionPhase: undefined,
        now,
      }).link,
      "Unknown",
    );
  });
});

describe("podReplicationFigures", () => {
  it("gives each pod's link and its lag against its own upstream", () => {
    const leader = pod(0, primary(S, 700));
    const follower = pod(1, replica(S, 650, { host: "10.0.0.1", port: 6379, linkStatus: "up" }));
    const lost = pod(2, cut(100, 12));
    assert.deepEqual(podReplicationFigures([leader, follower, lost], { host: "35.1.2.3", port: 6379 }, 300), [
      { pod: "dr-0" },
      { pod: "dr-1", linkUp: 1, linkDownSeconds: 0, lagBytes: 50 },
      { pod: "dr-2", linkUp: 0, linkDownSeconds: 12, lagBytes: 200 },
    ]);
  });

  it("measures against the last known source offset while the source cannot be asked, as status does", () => {
    const pods = [pod(0, cut(1000, 70)), pod(1, cut(900, 70)), pod(2)];
    const report = replicationReport({
      intent,
      pods,
      sourceOffset: undefined,
      previous: { linkStatus: "Down", sourceOffset: 5000, linkDownSince: "2026-01-01T00:09:00Z" },
      promotionPhase: undefined,
      now,
    });
    assert.equal(report.replication?.sourceOffset, 5000);
    assert.equal(report.replication?.lagBytes, 4000);
    assert.deepEqual(podReplicationFigures(pods, intent.source, report.replication?.sourceOffset), [
      { pod: "dr-0", linkUp: 0, linkDownSeconds: 70, lagBytes: 4000 },
      { pod: "dr-1", linkUp: 0, linkDownSeconds: 70, lagBytes: 4100 },
      // Not reachable: its link is not known to be up, and how long it has been down is not known at all.
      { pod: "dr-2", linkUp: 0 },
    ]);
  });
});
