/**
 * Which test file owns which loopback addresses. Test files run side by side (`npm test` runs two at a time),
 * and a Redis process, Sentinel, proxy or sandbox that binds an address another file uses either fails to
 * start or, worse, answers the other file's clients. So every address a file binds lies in its own entries
 * here: test/support/loopback.test.ts reads every redis- and e2e-tier file (the files that start servers),
 * fails when one uses a 127.N.M address outside its entries, and refuses entries that overlap.
 *
 * A sandbox (`range` R of hack/sandbox/testing.ts, hack/k8s/testing.ts or the scenarios' startRegion) takes
 * all of 127.R.0.0/16: its API server 127.R.0.1, pods 127.R.1–99.x, ClusterIPs 127.R.200.x, LoadBalancer IPs
 * 127.R.250.x; e2e files put their external source on 127.R.60.x and region links on 127.R.240.x. On the real
 * back end (E2E_BACKEND=real) the same R gives the cluster 10.R.0.0/16 (hack/k8s/control-plane.ts), and the
 * file's sources and links keep 127.R.x inside the test's network namespace. Files that start only
 * redis-server (the redis tier) share a /16 by /24 where the table says so.
 *
 * To take a range: pick a /16 that appears neither here nor in RESERVED, add the file's entry, and say it in
 * the file's header comment.
 */

/** CIDRs by test file: `127.N.0.0/16` or `127.N.M.0/24`. */
export const LOOPBACK_RANGES: Readonly<Record<string, readonly string[]>> = {
  // hack/sandbox's own tests
  "test/sandbox/api.e2e.test.ts": ["127.11.0.0/16"],
  "test/sandbox/kubectl.e2e.test.ts": ["127.12.0.0/16"],
  "test/sandbox/pods.e2e.test.ts": ["127.13.0.0/16"],
  "test/sandbox/network.e2e.test.ts": ["127.14.0.0/16", "127.15.0.0/16"],
  "test/sandbox/admission.e2e.test.ts": ["127.16.0.0/16"],
  "test/sandbox/main.e2e.test.ts": ["127.17.0.0/16", "127.61.0.0/16"],
  "test/sandbox/crash.e2e.test.ts": ["127.18.0.0/16"],
  "test/sandbox/pod-security.e2e.test.ts": ["127.57.0.0/16"],
  "test/sandbox/real-api-errors.e2e.test.ts": ["127.64.0.0/16"],

  // the controller on real redis-server processes, one /24 per DrHarness
  "test/controller/redis/ioredis-admin.redis.test.ts": ["127.43.50.0/24"],
  "test/controller/kube/resources.redis.test.ts": ["127.45.0.0/24"],
  "test/controller/replication/older-pods.redis.test.ts": ["127.45.1.0/24"],
  "test/controller/replication/replica-mode.redis.test.ts": ["127.21.0.0/16"],
  "test/controller/replication/promotion.redis.test.ts": ["127.22.0.0/16"],
  "test/controller/replication/restart.redis.test.ts": ["127.23.1.0/24", "127.23.2.0/24", "127.23.3.0/24"],
  "test/controller/replication/standalone.redis.test.ts": ["127.23.4.0/24"],
  "test/controller/replication/tls.redis.test.ts": ["127.23.5.0/24"],
  "test/controller/replication/sentinel.redis.test.ts": ["127.23.6.0/24"],
  "test/controller/replication/tls-source.redis.test.ts": ["127.23.7.0/24", "127.24.2.0/24", "127.24.3.0/24"],
  "test/controller/replication/min-sync-replicas.redis.test.ts": ["127.24.1.0/24"],
  "test/controller/replication/sentinel-dr.redis.test.ts": ["127.24.4.0/24"],
  "test/controller/replication/sentinel-replicas-known.redis.test.ts": [
    "127.24.5.0/24",
    "127.24.6.0/24",
    "127.24.7.0/24",
  ],
  "test/controller/replication/leader-guard.redis.test.ts": ["127.41.0.0/16"],
  "test/controller/replication/source-continuity.redis.test.ts": ["127.42.0.0/16"],
  "test/controller/replication/restarted-leader.redis.test.ts": ["127.65.0.0/16"],
  "test/controller/replication/promotion-stalled.redis.test.ts": ["127.66.0.0/16"],
  "test/controller/replication/promotion-revert.redis.test.ts": ["127.67.0.0/16"],
  "test/controller/replication/switchover.redis.test.ts": ["127.95.0.0/16"],
  "test/controller/metrics/partition.redis.test.ts": ["127.69.1.0/24"],
  "test/controller/metrics/rpo.redis.test.ts": ["127.87.1.0/24"],

  // the controller against a sandbox's API server
  "test/controller/kube/cluster-api.e2e.test.ts": ["127.29.0.0/16", "127.69.2.0/24"],
  "test/controller/watch/leader-election-process.e2e.test.ts": ["127.68.0.0/16"],

  // end to end on the sandbox (and, for the files hack/k8s/test.sh lists, on the real control plane)
  "test/e2e/controller.e2e.test.ts": ["127.20.0.0/16"],
  "test/e2e/scenarios/switchover.e2e.test.ts": ["127.98.0.0/16", "127.99.0.0/16"],
  "test/e2e/controller-caches.e2e.test.ts": ["127.96.0.0/16"],
  "test/e2e/replication/tls-dr.e2e.test.ts": ["127.25.0.0/16"],
  "test/e2e/replication/min-sync-replicas.e2e.test.ts": ["127.26.0.0/16"],
  "test/e2e/replication/sentinel-tls.e2e.test.ts": ["127.27.0.0/16"],
  "test/e2e/replication/sentinel-dr.e2e.test.ts": ["127.28.0.0/16"],
  "test/e2e/scenarios/basic-example.e2e.test.ts": ["127.31.0.0/16"],
  "test/e2e/scenarios/cross-region.e2e.test.ts": ["127.32.0.0/16"],
  "test/e2e/scenarios/monitoring-and-drill.e2e.test.ts": ["127.33.0.0/16"],
  "test/e2e/scenarios/troubleshooting.e2e.test.ts": ["127.34.0.0/16"],
  "test/e2e/faults/link-and-source.e2e.test.ts": ["127.35.0.0/16"],
  "test/e2e/faults/pods-and-controller.e2e.test.ts": ["127.36.0.0/16"],
  "test/e2e/faults/admission-and-api.e2e.test.ts": ["127.37.0.0/16"],
  "test/e2e/faults/empty-source.e2e.test.ts": ["127.38.0.0/16"],
  "test/e2e/webhook.e2e.test.ts": ["127.40.0.0/16"],
  "test/e2e/security/redis-users.e2e.test.ts": ["127.46.0.0/16"],
  "test/e2e/faults/api-during-promotion.e2e.test.ts": ["127.50.0.0/16"],
  "test/e2e/faults/promotion-faults.e2e.test.ts": ["127.51.0.0/16"],
  "test/e2e/faults/initial-sync.e2e.test.ts": ["127.52.0.0/16"],
  "test/e2e/faults/sentinel-boot.e2e.test.ts": ["127.80.0.0/16"],
  "test/e2e/faults/leader-guard.e2e.test.ts": ["127.83.0.0/16"],
  "test/e2e/faults/disk-full.e2e.test.ts": ["127.84.0.0/16"],
  "test/e2e/faults/source-restart-controller-down.e2e.test.ts": ["127.85.0.0/16"],
  "test/plugin/kubectl-redis-dr.e2e.test.ts": ["127.89.0.0/16"],

  // the real control plane only (one file at a time, hack/k8s/test.sh)
  "test/k8s/pod-security.e2e.test.ts": ["127.58.0.0/16"],
  "test/k8s/cert-manager.e2e.test.ts": ["127.63.0.0/16"],
  "test/k8s/service-network.e2e.test.ts": ["127.71.0.0/16"],
  "test/k8s/webhook-security.e2e.test.ts": ["127.72.0.0/16"],
  "test/k8s/node-agent.e2e.test.ts": ["127.73.0.0/16"],
  "test/k8s/installation.e2e.test.ts": ["127.77.0.0/16"],
  "test/k8s/controller-caches.e2e.test.ts": ["127.97.0.0/16"],
};

/**
 * Ranges the programs under hack/ take by default, which no test file may: they run next to the tests on a
 * developer's machine. (The benchmarks' 50–55 are not here: they run alone, and the fault tests reuse them.)
 */
export const RESERVED: Readonly<Record<string, string>> = {
  "127.10.0.0/16": "npm run sandbox",
  "127.30.0.0/16": "npm run demo",
  "127.75.0.0/16": "hack/k8s/capture-api-errors.ts",
  // Real clusters 10.56.0.0/16 and 10.59.0.0/16 in a network namespace of its own; kept off 127.56 and
  // 127.59 too, so a test file reusing the number cannot be mistaken for it.
  "127.56.0.0/16": "npm run bench:scale-real (pod-less clusters)",
  "127.59.0.0/16": "npm run bench:scale-real (clusters with pods)",
  // A real cluster 10.62.0.0/16 and its external source on 127.62.60.1, in a network namespace of its own.
  "127.62.0.0/16": "npm run bench:promotion-real",
};

/** A 127.N.0.0/16 or 127.N.M.0/24 as the addresses it covers: N, and M for a /24. */
export interface Block {
  readonly n: number;
  readonly m?: number;
}

export function parseCidr(cidr: string): Block {
  const match = /^127\.(\d+)\.(\d+)\.0\/(16|24)$/.exec(cidr);
  if (!match) throw new Error(`not a 127.N.0.0/16 or 127.N.M.0/24: ${cidr}`);
  const [, n, m, bits] = match;
  if (bits === "16" && m !== "0") throw new Error(`a /16 ends in .0.0: ${cidr}`);
  return bits === "16" ? { n: Number(n) } : { n: Number(n), m: Number(m) };
}

/** Whether every address of `inner` is in `outer`. */
export const contains = (outer: Block, inner: Block): boolean =>
  outer.n === inner.n && (outer.m === undefined || outer.m === inner.m);

export const overlaps = (a: Block, b: Block): boolean => contains(a, b) || contains(b, a);

/** Entries (and reserved ranges) of two different owners that share addresses, as `owner cidr / owner cidr`. */
export function overlappingEntries(
  ranges: Readonly<Record<string, readonly string[]>> = LOOPBACK_RANGES,
  reserved: Readonly<Record<string, string>> = RESERVED,
): string[] {
  const entries = [
    ...Object.entries(ranges).flatMap(([owner, cidrs]) => cidrs.map((cidr) => ({ owner, cidr }))),
    ...Object.entries(reserved).map(([cidr, owner]) => ({ owner, cidr })),
  ];
  const clashes: string[] = [];
  entries.forEach((a, index) => {
    for (const b of entries.slice(index + 1)) {
      if (a.owner !== b.owner && overlaps(parseCidr(a.cidr), parseCidr(b.cidr))) {
        clashes.push(`${a.owner} ${a.cidr} / ${b.owner} ${b.cidr}`);
      }
    }
  });
  return clashes;
}
