/**
 * Runs the replication engine (controller/replication/) on the pods that have an address: replica mode,
 * promotion, demotion or standalone, as the intent says.
 */
import type { V1Pod } from "@kubernetes/client-node";
import type { ReplicationContext } from "../../replication/context.ts";
import { reconcileReplication } from "../../replication/engine.ts";
import type { ReconcileContext, Step, StepResult } from "../context.ts";
import { CONTINUE } from "../context.ts";
import { CONFIRM_LEADER_ANNOTATION } from "../../replication/decisions/catch-up.ts";
import { ACCEPT_SOURCE_HISTORY_ANNOTATION } from "../../replication/decisions/source-continuity.ts";
import type { PodEndpoint } from "../../model/pods.ts";
import type { SourceMemory } from "../../replication/decisions/rpo.ts";
import { REDIS_PORT, ordinalOf } from "../../model/pods.ts";

function podEndpoints(cluster: string, pods: readonly V1Pod[]): PodEndpoint[] {
  const endpoints: PodEndpoint[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name ?? "";
    const ordinal = ordinalOf(cluster, name);
    const ip = pod.status?.podIP;
    if (
      ordinal === undefined ||
      ip === undefined ||
      ip === "" ||
      pod.metadata?.deletionTimestamp !== undefined
    )
      continue;
    if (pod.status?.phase !== "Running") continue;
    endpoints.push({ name, ordinal, host: ip, port: REDIS_PORT });
  }
  return endpoints.sort((a, b) => a.ordinal - b.ordinal);
}

export function replicationContext(ctx: ReconcileContext): ReplicationContext {
  const intent = ctx.intent ?? { kind: "standalone" };
  return {
    cluster: ctx.name,
    pods: podEndpoints(ctx.name, ctx.pods),
    instances: ctx.cluster.spec.instances ?? 1,
    intent,
    sourceAuthUnavailable: ctx.sourceAuthMissing,
    clusterPassword: ctx.clusterPassword,
    users: ctx.users,
    sourcePassword: ctx.sourcePassword,
    sourceUsername: ctx.sourceUsername,
    minSyncReplicas: ctx.cluster.spec.minSyncReplicas ?? 0,
    confirmLeader: ctx.cluster.metadata?.annotations?.[CONFIRM_LEADER_ANNOTATION],
    acceptSourceHistory: ctx.cluster.metadata?.annotations?.[ACCEPT_SOURCE_HISTORY_ANNOTATION],
    watchSource: (endpoint) => ctx.deps.sourceWatch?.watch(`${ctx.namespace}/${ctx.name}`, endpoint),
    sentinelMode: ctx.cluster.spec.mode === "sentinel",
    tlsCa: ctx.tlsCa,
    tlsCertificateFingerprint: ctx.tlsCertificateFingerprint,
    redis: ctx.redis,
    status: () => ctx.status(),
    commit: (tx) => ctx.commit(tx),
    event: (type, reason, message) => ctx.event(type, reason, message),
    now: ctx.deps.now,
    log: ctx.log,
    waitTimeoutMs: 10_000,
    ...(ctx.deps.sourceMemory === undefined
      ? {}
      : { sourceMemory: clusterMemory(ctx.deps.sourceMemory, `${ctx.namespace}/${ctx.name}`) }),
    backlogHorizonThresholdSeconds: ctx.deps.backlogHorizonThresholdSeconds,
  };
}

function clusterMemory(
  memories: Map<string, SourceMemory>,
  key: string,
): NonNullable<ReplicationContext["sourceMemory"]> {
  return {
    get: () => memories.get(key),
    set: (memory) => {
      if (memory === undefined) memories.delete(key);
      else memories.set(key, memory);
    },
  };
}

export const replicate: Step = {
  name: "replicate",
  async run(ctx: ReconcileContext): Promise<StepResult> {
    const result = await reconcileReplication(replicationContext(ctx));
    ctx.engineRequeueMs = result.requeueAfterMs;
    ctx.primaryPod = result.primaryPod;
    return CONTINUE;
  },
};
