/** Small hand-written instance snapshots for pure decision tests. */
import type { InstanceSnapshot } from "../../../../controller/redis/admin-port.ts";
import type { ReplicationInfo } from "../../../../controller/redis/info.ts";
import type { ObservedPod } from "../../../../controller/model/pods.ts";

export const S = "a".repeat(40);
export const D = "d".repeat(40);
export const R = "f".repeat(40);
export const NONE = "0".repeat(40);

export function replica(
  replid: string,
  offset: number,
  master: Partial<NonNullable<ReplicationInfo["master"]>> = {},
  keyCount = 10,
): InstanceSnapshot {
  return {
    replication: {
      role: "slave",
      masterReplid: replid,
      masterReplid2: NONE,
      masterReplOffset: offset,
      secondReplOffset: -1,
      connectedSlaves: 0,
      replicas: [],
      master: {
        host: "127.0.0.1",
        port: 1,
        linkStatus: "down",
        syncInProgress: false,
        lastIoSecondsAgo: -1,
        linkDownSinceSeconds: -1,
        slaveReplOffset: offset,
        ...master,
      },
    },
    stats: { syncFull: 0, syncPartialOk: 0, syncPartialErr: 0 },
    persistence: { loading: false, aofEnabled: true },
    keyCount,
  };
}

export function primary(
  replid: string,
  offset: number,
  replid2 = NONE,
  secondOffset = -1,
  keyCount = 10,
): InstanceSnapshot {
  return {
    replication: {
      role: "master",
      masterReplid: replid,
      masterReplid2: replid2,
      masterReplOffset: offset,
      secondReplOffset: secondOffset,
      connectedSlaves: 0,
      replicas: [],
    },
    stats: { syncFull: 0, syncPartialOk: 0, syncPartialErr: 0 },
    persistence: { loading: false, aofEnabled: true },
    keyCount,
  };
}

export const pod = (ordinal: number, snapshot?: InstanceSnapshot): ObservedPod => ({
  name: `dr-${ordinal}`,
  ordinal,
  host: `10.0.0.${ordinal + 1}`,
  port: 6379,
  ...(snapshot === undefined ? { error: "connect ECONNREFUSED" } : { snapshot }),
});
