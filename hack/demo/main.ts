/**
 * `npm run demo`: a narrated DR drill on the local sandbox, end to end, with real kubectl, the real webhook
 * and controller, and real redis-server pods.
 *
 *   npm run demo                          the drill, then a summary of measured figures
 *   npm run demo -- --timeline out.svg    also writes the drill's timeline (lag, link state, roles) as SVG
 *   npm run demo -- --control-plane real  the same drill on a real control plane (kube-apiserver, etcd, … built
 *                                         from upstream, hack/k8s), redis-dr installed from manifests/
 *
 * One sandbox plays both regions of the reference's cross-region example: namespace us-east is us-east-1
 * (redis-east, the primary) and us-west is us-west-2 (redis-west, the DR cluster). The wide-area network
 * between them is a TCP proxy per direction in front of each region's LoadBalancer address, so the drill can
 * cut the regions apart. It exits non-zero as soon as something it checks does not hold, and stops every
 * process it started — also on Ctrl-C.
 *
 * The drill itself is a list of scenes, one file per numbered step (drill/scenes/index.ts), run in order by
 * runScenes below; what they share is drill/context.ts.
 */
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { inPrivateNetworkNamespace, runInsideNetns } from "../k8s/netns.ts";
import type { Backend } from "../k8s/testing.ts";
import { Narrator } from "./lib/narrator.ts";
import { renderTimelineSvg } from "./lib/timeline.ts";
import { DrillContext, RANGE, type Scene } from "./drill/context.ts";
import { SCENES } from "./drill/scenes/index.ts";

const { values: options } = parseArgs({
  options: {
    timeline: { type: "string" },
    "control-plane": { type: "string", default: "sandbox" },
    help: { type: "boolean", short: "h" },
  },
});
if (options.help === true) {
  process.stdout.write("usage: npm run demo [-- --timeline PATH.svg] [--control-plane sandbox|real]\n");
  process.exit(0);
}
const controlPlane: Backend = ((value: string) => {
  if (value === "sandbox" || value === "real") return value;
  process.stderr.write(`--control-plane must be sandbox or real, not ${value}\n`);
  process.exit(2);
})(options["control-plane"]);
// The real control plane runs in a network namespace of its own: build it, then run the demo again there.
if (controlPlane === "real" && !inPrivateNetworkNamespace()) process.exit(await runInsideNetns());

/**
 * The wide-area network: west → east and east → west, outside the clusters' address pools (on the
 * sandbox's loopback range, or in the real cluster's network namespace).
 */
const WAN_NET = controlPlane === "real" ? 10 : 127;
const WAN_TO_EAST = { host: `${WAN_NET}.${RANGE}.240.1`, port: 6379 };
const WAN_TO_WEST = { host: `${WAN_NET}.${RANGE}.240.2`, port: 6379 };

const say = new Narrator(SCENES.length);
const password = randomBytes(18).toString("base64url");
const ctx = new DrillContext(say, password, controlPlane, WAN_TO_EAST, WAN_TO_WEST);
const { figures, samples } = ctx;
let cleaning: Promise<void> | undefined;

/** Stops everything the drill started, in reverse order of creation. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    ctx.sampling = false;
    await ctx.sampler.catch(() => undefined);
    for (const load of ctx.loads) await load.stop().catch(() => undefined);
    for (const link of ctx.links) await link.stop().catch(() => undefined);
    await ctx.sandbox?.stop().catch((error: unknown) => say.fail(`stopping the sandbox: ${String(error)}`));
  })();
  return cleaning;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  // `on`, not `once`: Ctrl-C reaches the demo twice (from the terminal and relayed by npm/tsx), and a second,
  // unhandled SIGINT would end the process before the cleanup finished.
  process.on(signal, () => {
    if (cleaning !== undefined) return;
    say.fail(`${signal}: stopping every process the demo started`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** The drill: each scene a numbered step, in order; the first check that does not hold ends it. */
async function runScenes(scenes: readonly Scene[]): Promise<void> {
  for (const scene of scenes) {
    say.step(scene.name, scene.detail);
    await scene.run(ctx);
  }
}

function summary(): void {
  const sorted = [...figures.lagSamples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const max = sorted.at(-1) ?? 0;
  const row = (label: string, value: string) => say.raw(`  ${label.padEnd(46)}${value}`);
  say.raw("");
  say.raw("Summary of the drill");
  row("time to first full sync (apply → in sync)", `${(figures.firstFullSyncMs / 1000).toFixed(1)} s`);
  row(`lag during load (${sorted.length} samples, bytes)`, `median ${median}, max ${max}`);
  for (const p of figures.promotionToWritableMs)
    row(`promotion request → writable (${p.what})`, `${p.ms} ms`);
  row("full resyncs during promotions (sync_full)", String(figures.fullResyncsDuringPromotion));
  row(
    "keys lost",
    `${figures.keysLost} of ${figures.keysAcknowledged} acknowledged (checked on every pod, ${figures.keyChecks} times)`,
  );
  row("total time", `${(say.elapsedMs() / 1000).toFixed(1)} s`);
}

function writeTimeline(): void {
  if (options.timeline === undefined) return;
  writeFileSync(
    options.timeline,
    renderTimelineSvg({
      title: "redis-dr drill: us-east-1 ⇄ us-west-2",
      samples,
      marks: say.marks,
      regions: ["us-east", "us-west"],
    }),
  );
  say.raw(`  ${"timeline".padEnd(46)}${options.timeline}`);
}

/** On failure the operator's logs outlive the sandbox, for whoever reads the failure. */
function keepLogs(): void {
  const sandbox = ctx.sandbox;
  if (sandbox === undefined || !existsSync(join(sandbox.dir, "logs"))) return;
  const kept = mkdtempSync(join(tmpdir(), "redis-dr-demo-logs-"));
  cpSync(join(sandbox.dir, "logs"), kept, { recursive: true });
  say.note(`the webhook's and the controller's logs are kept in ${kept}`);
}

let exitCode = 0;
try {
  await runScenes(SCENES);
  summary();
  writeTimeline();
  say.raw("\nThe drill held: every step as expected.");
} catch (error) {
  exitCode = 1;
  say.fail(error instanceof Error ? error.message : String(error));
  keepLogs();
  writeTimeline();
} finally {
  await cleanup();
}
process.exit(exitCode);
