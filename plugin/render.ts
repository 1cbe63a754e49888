/**
 * What `kubectl redis-dr` prints, as pure functions of a RedisCluster: the status summary, and the plans of
 * promote and demote (the exact merge patch, its kubectl equivalent, and what the change costs). Plain text
 * with fixed labels, so people can read it and tests can compare it.
 */
import type { Condition, RedisCluster } from "../schemas/generated/rediscluster.ts";

/** A RedisCluster as the API server returns it: named and namespaced. */
export type NamedCluster = RedisCluster & { metadata: { name: string; namespace: string } };

/** Conditions that wait for a human: shown again below the table with the command that resolves them. */
const NEEDS_A_HUMAN = ["LeaderBlocked", "SourceDiscontinuity"] as const;

/** The command a LeaderBlocked or SourceDiscontinuity message ends with (the controller writes it). */
const RESOLVE_COMMAND = /kubectl annotate rediscluster \S+ \S+ --overwrite/;

const SHORT_ID = 8;

/** Columns padded to their widest cell, two spaces apart, no trailing spaces. */
function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  "),
    )
    .join("\n");
}

const bytes = (n: number): string => `${n} ${n === 1 ? "byte" : "bytes"}`;

/** Single quotes for a shell, as a person would type the argument. */
const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

const isReplicating = (cluster: NamedCluster): boolean =>
  cluster.spec.replicaMode?.enabled === true && cluster.spec.replicaMode.promote !== true;

function sourceName(cluster: NamedCluster): string {
  const source = cluster.spec.replicaMode?.source;
  if (source === undefined) return "(no source)";
  return `${source.clusterName ?? source.host} (${source.host}:${source.port ?? 6379})`;
}

function modeLine(cluster: NamedCluster): string {
  const promotion = cluster.status?.promotion;
  if (cluster.spec.replicaMode?.enabled === true && cluster.spec.replicaMode.promote === true) {
    return promotion?.phase === "Completed"
      ? `promoted (former source: ${promotion.formerSource ?? sourceName(cluster)})`
      : `promoting (phase ${promotion?.phase ?? "not started"}; source: ${sourceName(cluster)})`;
  }
  if (isReplicating(cluster)) return `replica of ${sourceName(cluster)}`;
  return "standalone (not a replica)";
}

/** The data-loss window a promotion recorded, in words. */
export function dataLossWindow(
  promotion: NonNullable<NonNullable<RedisCluster["status"]>["promotion"]>,
): string {
  if (promotion.lagAtPromotionBytes === undefined) return "not recorded";
  const lower = promotion.lagAtPromotionIsLowerBound === true;
  let text = `${lower ? "at least " : ""}${bytes(promotion.lagAtPromotionBytes)}`;
  if (lower && promotion.sourceLastSeen !== undefined) {
    text += ` (the source could not be asked; last seen ${promotion.sourceLastSeen})`;
  }
  if (promotion.initialSyncIncomplete === true) {
    text += "; initial sync incomplete: everything the source held is lost on this side";
  }
  return text;
}

/** The current lag, i.e. what would be lost if the source were lost now. */
function currentLag(cluster: NamedCluster): string {
  const replication = cluster.status?.replication;
  if (replication?.lagBytes === undefined) return "unknown (the controller has not measured it yet)";
  const link = replication.linkStatus ?? "Unknown";
  const seen =
    replication.sourceLastSeen === undefined ? "" : `, source last seen ${replication.sourceLastSeen}`;
  // While the source cannot be asked, lagBytes is measured against its last seen offset: a lower bound.
  const lower = link === "Up" ? "" : "at least ";
  return `${lower}${bytes(replication.lagBytes)} (link ${link}${seen})`;
}

const conditionsNeedingAHuman = (conditions: readonly Condition[]): Condition[] =>
  conditions.filter((c) => c.status === "True" && (NEEDS_A_HUMAN as readonly string[]).includes(c.type));

/** `kubectl redis-dr status NAME`. */
export function renderStatus(cluster: NamedCluster): string {
  const { name, namespace } = cluster.metadata;
  const status = cluster.status ?? {};
  const replication = status.replication;
  const lines: string[] = [`RedisCluster ${namespace}/${name}`, ""];
  const leader = status.designatedLeader ?? `${name}-0`;
  lines.push(
    table([
      ["Mode:", modeLine(cluster)],
      ["Pods:", `${status.readyInstances ?? 0}/${cluster.spec.instances ?? 1} ready`],
      ["Primary:", status.currentPrimary || "none (every pod replicates)"],
      ["Designated leader:", leader],
      ...(isReplicating(cluster)
        ? [
            ["Link:", replication?.linkStatus ?? "Unknown"],
            ...(replication?.linkDownSince === undefined
              ? []
              : [["Link down since:", replication.linkDownSince]]),
            ["Lag:", replication?.lagBytes === undefined ? "unknown" : bytes(replication.lagBytes)],
            ["Source last seen:", replication?.sourceLastSeen ?? "never"],
          ]
        : []),
    ]),
  );

  lines.push("", "Pods (as the controller last saw them):");
  const offsets = status.lastKnownOffsets ?? [];
  if (offsets.length === 0) {
    lines.push("  none observed yet");
  } else {
    const role = (pod: string): string =>
      pod === status.currentPrimary ? "primary" : pod === leader ? "leader (replica)" : "replica";
    const rows = [
      ["POD", "ROLE", "REPLICATION ID", "OFFSET", "KEYS"],
      ...[...offsets]
        .sort((a, b) => a.pod.localeCompare(b.pod, "en", { numeric: true }))
        .map((o) => [
          o.pod,
          role(o.pod),
          o.replicationId.slice(0, SHORT_ID),
          String(o.offset),
          o.keys === undefined ? "-" : String(o.keys),
        ]),
    ];
    lines.push(
      ...table(rows)
        .split("\n")
        .map((l) => `  ${l}`),
    );
  }

  lines.push("");
  const promotion = status.promotion;
  if (promotion === undefined) {
    lines.push("Last promotion: none");
  } else {
    lines.push(
      "Last promotion:",
      ...table([
        ["Phase:", promotion.phase ?? "-"],
        ["Requested:", promotion.requestedAt ?? "-"],
        ["Completed:", promotion.completedAt ?? "-"],
        ["Data-loss window:", dataLossWindow(promotion)],
        ...(promotion.replicationId ? [["Demotion token:", promotion.replicationId]] : []),
      ])
        .split("\n")
        .map((l) => `  ${l}`),
    );
  }

  lines.push("", "Conditions:");
  const conditions = status.conditions ?? [];
  if (conditions.length === 0) {
    lines.push("  none");
  } else {
    const rows = [
      ["TYPE", "STATUS", "REASON", "MESSAGE"],
      ...conditions.map((c) => [c.type, c.status, c.reason, c.message]),
    ];
    lines.push(
      ...table(rows)
        .split("\n")
        .map((l) => `  ${l}`),
    );
  }

  for (const blocked of conditionsNeedingAHuman(conditions)) {
    const command = RESOLVE_COMMAND.exec(blocked.message)?.[0];
    lines.push(
      "",
      `!! ${blocked.type} (${blocked.reason}): the controller waits for you.`,
      `   ${blocked.message}`,
      ...(command === undefined ? [] : [`   Resolve with: ${withNamespace(command, namespace)}`]),
    );
  }
  return `${lines.join("\n")}\n`;
}

/** The controller's commands name no namespace: add the cluster's. */
const withNamespace = (command: string, namespace: string): string =>
  command.replace(/^kubectl /, `kubectl -n ${namespace} `);

/** A change the plugin makes: a JSON merge patch on the RedisCluster. */
export interface Change {
  readonly patch: Record<string, unknown>;
  /** What it costs, in lines for the person about to confirm. */
  readonly cost: readonly string[];
  readonly question: string;
}

export type Plan =
  | { readonly kind: "change"; readonly change: Change }
  | { readonly kind: "refused"; readonly reason: string };

/** The exact API change and its kubectl equivalent, as printed before applying it. */
export function describeChange(cluster: NamedCluster, change: Change): string {
  const json = JSON.stringify(change.patch);
  const { name, namespace } = cluster.metadata;
  return [
    ...change.cost,
    "",
    `API change (JSON merge patch of redisclusters.redis.io ${namespace}/${name}):`,
    `  ${json}`,
    "The same change with kubectl:",
    `  kubectl -n ${namespace} patch rediscluster ${name} --type=merge -p ${shellQuote(json)}`,
    "",
  ].join("\n");
}

/** `promote NAME`: promote: true, refused unless the cluster replicates. */
export function planPromote(cluster: NamedCluster): Plan {
  const { name } = cluster.metadata;
  const replicaMode = cluster.spec.replicaMode;
  if (replicaMode?.enabled !== true || replicaMode.source === undefined) {
    return {
      kind: "refused",
      reason: `${name} is not a replica (spec.replicaMode.enabled is not true): there is nothing to promote`,
    };
  }
  if (replicaMode.promote === true) {
    return {
      kind: "refused",
      reason:
        `${name} is already promoted or being promoted (status.promotion.phase: ` +
        `${cluster.status?.promotion?.phase ?? "not started"})`,
    };
  }
  const leader = cluster.status?.designatedLeader ?? `${name}-0`;
  return {
    kind: "change",
    change: {
      patch: { spec: { replicaMode: { promote: true } } },
      cost: [
        `Promote ${name}: ${leader} stops replicating from ${sourceName(cluster)} and becomes a primary that ` +
          "accepts writes; the other pods follow it.",
        `Data-loss window if the source is lost now: ${currentLag(cluster)}.`,
        "Fence the old primary first if clients may still reach it: two primaries cannot be merged later.",
      ],
      question: `Promote ${name}?`,
    },
  };
}

/** Where the source's region reaches this cluster's leader (`--handoff-address HOST[:PORT]`). */
export interface HandoffAddress {
  readonly host: string;
  readonly port: number;
}

/** `HOST[:PORT]` (an IPv6 address in brackets), the port 6379 when not given; undefined when malformed. */
export function parseHandoffAddress(text: string): HandoffAddress | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? 6379 : Number(match[3]);
  if (host === undefined || host === "" || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/**
 * Step 1 of the planned switchover (docs/switchover.md §2) on the DR cluster: promote by hand-off, announced at
 * `address`. Nothing is broken: the leader keeps replicating until the source hands the primary role over,
 * which its own cluster does once told (the printed patch, applied in the source's region).
 */
export function planSwitchover(cluster: NamedCluster, address: HandoffAddress): Plan {
  const { name, namespace } = cluster.metadata;
  const replicaMode = cluster.spec.replicaMode;
  if (replicaMode?.enabled !== true || replicaMode.source === undefined) {
    return {
      kind: "refused",
      reason: `${name} is not a replica (spec.replicaMode.enabled is not true): there is no source to take over from`,
    };
  }
  if (replicaMode.promote === true) {
    return {
      kind: "refused",
      reason:
        `${name} is already promoted or being promoted (status.promotion.phase: ` +
        `${cluster.status?.promotion?.phase ?? "not started"})`,
    };
  }
  const source = replicaMode.source.clusterName ?? replicaMode.source.host;
  const leader = cluster.status?.designatedLeader ?? `${name}-0`;
  const sourcePatch = JSON.stringify({
    spec: {
      replicaMode: {
        enabled: true,
        source: { host: address.host, port: address.port, clusterName: name, authSecretName: "<SECRET>" },
        joinBy: "Handoff",
      },
    },
  });
  return {
    kind: "change",
    change: {
      patch: {
        spec: {
          replicaMode: {
            promote: true,
            promoteBy: "Handoff",
            handoffAddress: { host: address.host, port: address.port },
          },
        },
      },
      cost: [
        `Prepare ${name} to take the primary role from ${sourceName(cluster)} without losing a write: ${leader} ` +
          `keeps replicating and is announced to ${source} as ${address.host}:${address.port}, which must reach it.`,
        `Then, in ${source}'s region, make ${source} a replica by hand-off (<SECRET>: a Secret there holding ` +
          `${name}'s password):`,
        `  kubectl -n ${namespace} patch rediscluster ${source} --type=merge -p '${sourcePatch}'`,
        `Writes on ${source} pause while ${name} catches up (at most spec.replicaMode.handoffTimeoutSeconds, 10 s ` +
          "by default); on timeout nothing changes.",
      ],
      question: `Prepare ${name} for a switchover?`,
    },
  };
}

/** What a demotion discards: the leader's offset on the promoted history minus the offset it was promoted at. */
export function discardedSincePromotion(cluster: NamedCluster): string {
  const promotion = cluster.status?.promotion;
  const leader = cluster.status?.currentPrimary || cluster.status?.designatedLeader;
  const seen = cluster.status?.lastKnownOffsets?.find(
    (o) => o.pod === leader && o.replicationId === promotion?.replicationId,
  );
  if (promotion?.promotedOffset === undefined || seen === undefined) {
    return "unknown (the controller has no offset of the leader on the promoted history)";
  }
  const written = Math.max(0, seen.offset - promotion.promotedOffset);
  const keys = seen.keys === undefined ? "" : `; the leader holds ${seen.keys} keys`;
  return (
    `${bytes(written)} of replication stream written on ${leader} since the promotion ` +
    `(offset ${seen.offset} − promoted at ${promotion.promotedOffset}, as of ${seen.observedAt ?? "the last reconcile"}${keys})`
  );
}

/** `demote NAME`: promote: false with the demotion token from status.promotion.replicationId. */
export function planDemote(cluster: NamedCluster): Plan {
  const { name } = cluster.metadata;
  const token = cluster.status?.promotion?.replicationId;
  if (cluster.spec.replicaMode?.promote !== true || !token) {
    return {
      kind: "refused",
      reason:
        `${name} has no completed promotion to undo (status.promotion.replicationId is empty): ` +
        "there is nothing to demote",
    };
  }
  return {
    kind: "change",
    change: {
      patch: { spec: { replicaMode: { promote: false, demotionToken: token } } },
      cost: [
        `Demote ${name}: every pod discards its data and copies ${sourceName(cluster)} again (a full sync).`,
        `Demotion token (status.promotion.replicationId): ${token}`,
        `Discarded: every write made on ${name} since its promotion: ${discardedSincePromotion(cluster)}.`,
      ],
      question: `Demote ${name} and discard those writes?`,
    },
  };
}
