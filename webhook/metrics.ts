/** The webhook's Prometheus metrics, registered on a Registry the caller owns (never the global one). */
import { Counter, Histogram, type Registry } from "prom-client";

export type Endpoint = "mutate" | "validate";
/**
 * allowed, patched (allowed with defaults added), denied (an AdmissionReview that refuses), rejected (an HTTP
 * error status instead of an AdmissionReview: bad input, 4xx).
 */
export type Decision = "allowed" | "patched" | "denied" | "rejected";

/** The operation label of a request whose body was never read into an AdmissionReview. */
export const UNKNOWN_OPERATION = "UNKNOWN";

export interface WebhookMetrics {
  readonly requests: Counter<"endpoint" | "operation" | "decision">;
  readonly duration: Histogram<"endpoint">;
  readonly errors: Counter<"endpoint" | "kind">;
}

export function createMetrics(registry: Registry): WebhookMetrics {
  return {
    requests: new Counter({
      name: "redis_dr_webhook_admission_requests_total",
      help: "Admission requests answered, by endpoint, operation and decision.",
      labelNames: ["endpoint", "operation", "decision"],
      registers: [registry],
    }),
    duration: new Histogram({
      name: "redis_dr_webhook_admission_duration_seconds",
      help: "Time to answer an admission request, including Secret lookups.",
      labelNames: ["endpoint"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    errors: new Counter({
      name: "redis_dr_webhook_errors_total",
      help: "Requests that failed: bad_request (malformed input), internal (an unexpected error).",
      labelNames: ["endpoint", "kind"],
      registers: [registry],
    }),
  };
}
