/**
 * Leader election with a coordination.k8s.io/v1 Lease, so several controller replicas can run and only
 * one reconciles. The holder renews the Lease; the others take it over once it has not been renewed for
 * leaseDurationSeconds. Writes carry the Lease's resourceVersion: of two candidates, one gets a 409.
 * A leader that cannot renew in time stops leading (the caller exits, and a fresh process campaigns again).
 */
import { CoordinationV1Api, V1MicroTime } from "@kubernetes/client-node";
import type { KubeConfig, V1Lease } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { apiErrorCode } from "../kube/cluster-api.ts";

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationSeconds?: number;
  readonly renewEveryMs?: number;
}

export type LeaseDecision = "acquire" | "renew" | "wait";

/** Pure: may `identity` take or keep this Lease now? */
export function decideLease(lease: V1Lease | undefined, identity: string, now: Date): LeaseDecision {
  const spec = lease?.spec;
  if (spec?.holderIdentity === undefined || spec.holderIdentity === "" || spec.holderIdentity === null)
    return "acquire";
  if (spec.holderIdentity === identity) return "renew";
  const renewed = spec.renewTime === undefined ? 0 : new Date(spec.renewTime).getTime();
  const duration = (spec.leaseDurationSeconds ?? 15) * 1000;
  return renewed + duration < now.getTime() ? "acquire" : "wait";
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly duration: number;
  private readonly renewEveryMs: number;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: LeaderElectionOptions,
    private readonly log: Logger,
  ) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
    this.duration = options.leaseDurationSeconds ?? 15;
    this.renewEveryMs = options.renewEveryMs ?? 2000;
  }

  /** One attempt to take or renew the Lease; true when this process holds it afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = new Date();
    let lease: V1Lease | undefined;
    try {
      lease = await this.api.readNamespacedLease({ namespace, name });
    } catch (error) {
      if (apiErrorCode(error) !== 404) throw error;
    }
    const decision = decideLease(lease, identity, now);
    if (decision === "wait") return false;
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: this.duration,
      renewTime: new V1MicroTime(now.getTime()),
      acquireTime:
        decision === "acquire" || lease?.spec?.acquireTime === undefined
          ? new V1MicroTime(now.getTime())
          : lease.spec.acquireTime,
      leaseTransitions:
        (lease?.spec?.leaseTransitions ?? 0) + (decision === "acquire" && lease !== undefined ? 1 : 0),
    };
    try {
      if (lease === undefined) {
        await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } });
      } else {
        await this.api.replaceNamespacedLease({
          namespace,
          name,
          body: { metadata: { ...lease.metadata, name, namespace }, spec },
        });
      }
      return true;
    } catch (error) {
      const code = apiErrorCode(error);
      if (code === 409 || code === 422) return false;
      throw error;
    }
  }

  /** Resolves once this process leads; then renews in the background and calls `onLost` if it stops leading. */
  async campaign(onLost: () => void): Promise<void> {
    for (;;) {
      if (this.stopped) throw new Error("leader election stopped");
      try {
        if (await this.tryAcquireOrRenew()) break;
      } catch (error) {
        this.log.warn({ err: error }, "leader election attempt failed");
      }
      await new Promise((resolve) => setTimeout(resolve, this.renewEveryMs));
    }
    this.log.info({ lease: `${this.options.namespace}/${this.options.name}` }, "became leader");
    let lastRenew = Date.now();
    const renew = async () => {
      if (this.stopped) return;
      try {
        if (await this.tryAcquireOrRenew()) lastRenew = Date.now();
        else return onLost();
      } catch (error) {
        this.log.warn({ err: error }, "lease renewal failed");
        // Give up before another candidate may take over, so two leaders never act at once.
        if (Date.now() - lastRenew > (this.duration * 1000 * 2) / 3) return onLost();
      }
      this.timer = setTimeout(() => void renew(), this.renewEveryMs);
    };
    this.timer = setTimeout(() => void renew(), this.renewEveryMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}
