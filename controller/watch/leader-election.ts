/**
 * Leader election with a coordination.k8s.io/v1 Lease, so several controller replicas can run and only
 * one reconciles. The holder renews the Lease; the others take it over once it has not been renewed for
 * leaseDurationSeconds — measured, as client-go does, on the candidate's own clock from when it last saw the
 * Lease record change, never by comparing the holder's renewTime with the local clock, so clock skew between
 * two machines cannot make two controllers act at once (or keep a dead holder's Lease forever). Writes carry
 * the Lease's resourceVersion: of two candidates, one gets a 409.
 * A leader that has not renewed within the renew deadline (shorter than the Lease) has lost: the caller must
 * stop acting at once — it exits, like controller-runtime — before another candidate may take over.
 */
import { CoordinationV1Api, Observable, V1MicroTime } from "@kubernetes/client-node";
import type { ConfigurationOptions, KubeConfig, V1Lease } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { apiErrorCode } from "../kube/cluster-api.ts";

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** How long the Lease holds without a renewal before another candidate may take it (default 15 s). */
  readonly leaseDurationSeconds?: number;
  /** The leader gives up when it has not renewed for this long; less than the Lease (default 10 s). */
  readonly renewDeadlineMs?: number;
  /** Time between attempts, to acquire or to renew (default 2 s). */
  readonly renewEveryMs?: number;
}

export type LeaseDecision = "acquire" | "renew" | "wait";

/** When this candidate last saw the Lease record change, on its own clock. */
export interface LeaseObservation {
  /** The record as seen (holder, renew and acquire times, transitions, duration). */
  readonly record: string;
  /** Local time (ms since the epoch) when this record was first seen. */
  readonly at: number;
}

/** Pure: the observation after reading `lease` at local time `nowMs`. */
export function observeLease(
  lease: V1Lease | undefined,
  previous: LeaseObservation | undefined,
  nowMs: number,
): LeaseObservation {
  const spec = lease?.spec;
  const record = JSON.stringify([
    spec?.holderIdentity ?? null,
    spec?.renewTime === undefined ? null : new Date(spec.renewTime).toISOString(),
    spec?.acquireTime === undefined ? null : new Date(spec.acquireTime).toISOString(),
    spec?.leaseTransitions ?? null,
    spec?.leaseDurationSeconds ?? null,
  ]);
  return previous?.record === record ? previous : { record, at: nowMs };
}

/**
 * Pure: may `identity` take or keep this Lease now? Another holder's Lease has expired when this candidate
 * has seen its record unchanged for leaseDurationSeconds on its own clock (`observedAtMs` from observeLease).
 */
export function decideLease(
  lease: V1Lease | undefined,
  identity: string,
  observedAtMs: number,
  nowMs: number,
): LeaseDecision {
  const spec = lease?.spec;
  if (spec?.holderIdentity === undefined || spec.holderIdentity === "" || spec.holderIdentity === null)
    return "acquire";
  if (spec.holderIdentity === identity) return "renew";
  const duration = (spec.leaseDurationSeconds ?? 15) * 1000;
  return observedAtMs + duration < nowMs ? "acquire" : "wait";
}

/** What one attempt found. */
type Attempt = "holding" | "held-by-other" | "conflict";

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private readonly duration: number;
  private readonly renewDeadlineMs: number;
  private readonly renewEveryMs: number;
  private observed: LeaseObservation | undefined;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: LeaderElectionOptions,
    private readonly log: Logger,
  ) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
    this.duration = options.leaseDurationSeconds ?? 15;
    this.renewDeadlineMs = Math.round(options.renewDeadlineMs ?? (this.duration * 1000 * 2) / 3);
    this.renewEveryMs = Math.round(options.renewEveryMs ?? 2000);
    if (!(this.renewDeadlineMs < this.duration * 1000) || !(this.renewEveryMs < this.renewDeadlineMs)) {
      throw new Error(
        `leader election: need retry period (${this.renewEveryMs} ms) < renew deadline ` +
          `(${this.renewDeadlineMs} ms) < lease duration (${this.duration * 1000} ms)`,
      );
    }
  }

  /**
   * Each attempt (a read and a write) is aborted after half the renew deadline, as client-go does: a hung
   * API call neither blocks the next attempt nor outlives the deadline.
   */
  private attemptOptions(): ConfigurationOptions {
    const signal = AbortSignal.timeout(Math.ceil(this.renewDeadlineMs / 2));
    return {
      middleware: [
        {
          pre: (context) => {
            context.setSignal(signal);
            return new Observable(Promise.resolve(context));
          },
          post: (response) => new Observable(Promise.resolve(response)),
        },
      ],
      middlewareMergeStrategy: "append",
    };
  }

  /** One attempt to take or renew the Lease; true when this process holds it afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    return (await this.attempt()) === "holding";
  }

  private async attempt(): Promise<Attempt> {
    const { namespace, name, identity } = this.options;
    const options = this.attemptOptions();
    const now = new Date();
    let lease: V1Lease | undefined;
    try {
      lease = await this.api.readNamespacedLease({ namespace, name }, options);
    } catch (error) {
      if (apiErrorCode(error) !== 404) throw error;
    }
    this.observed = observeLease(lease, this.observed, now.getTime());
    const decision = decideLease(lease, identity, this.observed.at, now.getTime());
    if (decision === "wait") return "held-by-other";
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
        await this.api.createNamespacedLease(
          { namespace, body: { metadata: { name, namespace }, spec } },
          options,
        );
      } else {
        await this.api.replaceNamespacedLease(
          { namespace, name, body: { metadata: { ...lease.metadata, name, namespace }, spec } },
          options,
        );
      }
      return "holding";
    } catch (error) {
      const code = apiErrorCode(error);
      if (code === 409 || code === 422) return "conflict";
      throw error;
    }
  }

  /**
   * Resolves with true once this process leads (then renews in the background and calls `onLost` once,
   * with the reason, if it stops leading), or with false when stopped before.
   */
  async campaign(onLost: (reason: string) => void): Promise<boolean> {
    const lease = `${this.options.namespace}/${this.options.name}`;
    let waiting = false;
    for (;;) {
      if (this.stopped) return false;
      const started = Date.now();
      try {
        const result = await this.attempt();
        // Stopped meanwhile (a shutdown while campaigning): not leading; the Lease expires by itself.
        if (this.stopped) return false;
        if (result === "holding") {
          this.log.info({ lease, identity: this.options.identity }, "became leader");
          this.lead(onLost, started);
          return true;
        }
        if (!waiting) this.log.info({ lease }, "another controller leads; waiting for the Lease");
        waiting = true;
      } catch (error) {
        this.log.warn({ err: error }, "leader election attempt failed");
      }
      await new Promise((resolve) => setTimeout(resolve, this.renewEveryMs));
    }
  }

  /**
   * Renews every renewEveryMs. Lost when another candidate holds the Lease, or — whatever the pending call
   * does — when the last renewal started more than the renew deadline ago: before the Lease expires for the
   * others, so two leaders never act at once.
   */
  private lead(onLost: (reason: string) => void, renewedAt: number): void {
    let lastRenewal = renewedAt;
    const lose = (reason: string) => {
      if (this.stopped) return;
      this.stop();
      onLost(reason);
    };
    const armDeadline = () => {
      clearTimeout(this.deadline);
      this.deadline = setTimeout(
        () => lose(`the Lease was not renewed within the renew deadline of ${this.renewDeadlineMs} ms`),
        Math.max(0, this.renewDeadlineMs - (Date.now() - lastRenewal)),
      );
    };
    const renew = async () => {
      if (this.stopped) return;
      const started = Date.now();
      try {
        const result = await this.attempt();
        if (result === "held-by-other") return lose("another candidate holds the Lease");
        if (result === "holding") {
          lastRenewal = started;
          armDeadline();
        }
        // A conflict: someone wrote the Lease meanwhile; the next attempt reads who holds it.
      } catch (error) {
        this.log.warn({ err: error }, "lease renewal failed");
      }
      if (!this.stopped) this.timer = setTimeout(() => void renew(), this.renewEveryMs);
    };
    armDeadline();
    this.timer = setTimeout(() => void renew(), this.renewEveryMs);
  }

  /** Stops campaigning and renewing (the Lease then expires by itself). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
  }

  /**
   * Stops, and gives the Lease up if this process holds it, so a successor need not wait for it to expire.
   * Only after this process stopped acting (a graceful shutdown).
   */
  async release(): Promise<void> {
    this.stop();
    const { namespace, name, identity } = this.options;
    const options = this.attemptOptions();
    try {
      const lease = await this.api.readNamespacedLease({ namespace, name }, options);
      if (lease.spec?.holderIdentity !== identity) return;
      const now = new V1MicroTime(Date.now());
      await this.api.replaceNamespacedLease(
        {
          namespace,
          name,
          body: {
            metadata: lease.metadata,
            spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: now },
          },
        },
        options,
      );
      this.log.info({ lease: `${namespace}/${name}` }, "released the leader Lease");
    } catch (error) {
      this.log.warn({ err: error }, "releasing the leader Lease failed; it expires by itself");
    }
  }
}
