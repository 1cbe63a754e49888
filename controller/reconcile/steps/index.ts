/** The reconcile, in order. Each step may stop the chain (requeue/done); see ../reconciler.ts. */
import type { Step } from "../context.ts";
import { ensureWorkloads } from "./ensure-workloads.ts";
import { labelPods, listPods } from "./label-pods.ts";
import { reloadCertificatesStep } from "./reload-certificates.ts";
import { replicate } from "./replicate.ts";
import { reportStatus } from "./report-status.ts";
import { resolveSecrets } from "./resolve-secrets.ts";

export const STEPS: readonly Step[] = [
  resolveSecrets,
  ensureWorkloads,
  listPods,
  reloadCertificatesStep,
  replicate,
  labelPods,
  reportStatus,
];
