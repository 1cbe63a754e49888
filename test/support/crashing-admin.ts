/**
 * A controller process that "dies" right after a change to Redis: an admin port that calls `crash` after each
 * REPLICAOF, REPLICAOF NO ONE and CONFIG SET it has made; `crash` throws Interrupted when the process should
 * die there. Reads go through untouched.
 */
import type { RedisAdmin, RedisAdminFactory } from "../../controller/redis/admin-port.ts";

export class Interrupted extends Error {}

export function crashingAfterChanges(
  inner: RedisAdminFactory,
  crash: (what: string) => void,
): RedisAdminFactory {
  return {
    connect(endpoint) {
      const admin = inner.connect(endpoint);
      const after =
        <A extends unknown[]>(what: string, run: (...args: A) => Promise<void>) =>
        async (...args: A) => {
          await run(...args);
          crash(`${what} on ${endpoint.host}`);
        };
      const wrapped: RedisAdmin = {
        snapshot: () => admin.snapshot(),
        replication: () => admin.replication(),
        configGet: (p) => admin.configGet(p),
        wait: (n, t) => admin.wait(n, t),
        sampleKeys: (n) => admin.sampleKeys(n),
        countExisting: (keys) => admin.countExisting(keys),
        serverCertificateFingerprint: () => admin.serverCertificateFingerprint(),
        sentinelMaster: (name) => admin.sentinelMaster(name),
        sentinelMonitor: (name, primary, quorum, settings) =>
          admin.sentinelMonitor(name, primary, quorum, settings),
        sentinelRemove: (name) => admin.sentinelRemove(name),
        sentinelReplicas: (name) => admin.sentinelReplicas(name),
        sentinelFailover: (name) => admin.sentinelFailover(name),
        close: () => admin.close(),
        replicaOf: after("REPLICAOF", (host: string, port: number) => admin.replicaOf(host, port)),
        replicaOfNoOne: after("REPLICAOF NO ONE", () => admin.replicaOfNoOne()),
        configSet: after("CONFIG SET", (p: string, v: string) => admin.configSet(p, v)),
        aclSetUser: after("ACL SETUSER", (u: string, r: string) => admin.aclSetUser(u, r)),
        failoverTo: after("FAILOVER", (h: string, p: number, t: number) => admin.failoverTo(h, p, t)),
        failoverAbort: () => admin.failoverAbort(),
        failoverState: () => admin.failoverState(),
        clientPauseWrite: (t) => admin.clientPauseWrite(t),
        clientUnpause: () => admin.clientUnpause(),
        killMasterLink: () => admin.killMasterLink(),
      };
      return wrapped;
    },
  };
}
