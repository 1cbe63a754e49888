/**
 * The drill, scene by scene: each is a numbered step of the narration, run in this order.
 */
import type { Scene } from "../context.ts";
import { confirmedDemotion } from "./confirmed-demotion.ts";
import { drillPromotion } from "./drill-promotion.ts";
import { eastPrimary } from "./east-primary.ts";
import { failback } from "./failback.ts";
import { failover } from "./failover.ts";
import { invalidApply } from "./invalid-apply.ts";
import { lagUnderLoad } from "./lag-under-load.ts";
import { recoverEast } from "./recover-east.ts";
import { regionOutage } from "./region-outage.ts";
import { seedWrites } from "./seed-writes.ts";
import { smokeTest } from "./smoke-test.ts";
import { startSandbox } from "./start-sandbox.ts";
import { westReplica } from "./west-replica.ts";

export const SCENES: readonly Scene[] = [
  startSandbox,
  eastPrimary,
  seedWrites,
  westReplica,
  lagUnderLoad,
  invalidApply,
  drillPromotion,
  smokeTest,
  confirmedDemotion,
  regionOutage,
  failover,
  recoverEast,
  failback,
];
