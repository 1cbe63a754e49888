/**
 * The fault suite's summary, from the ledger the fault tests write (test/e2e/faults/ledger.ts):
 *
 *   tsx hack/faults-summary.ts [--backend sandbox|real] [--require]   prints, per back end,
 *       fault scenarios (sandbox): N run, K acknowledged keys, L lost
 *     and exits non-zero when L > 0, when a scenario started but recorded no figures (it failed or hung
 *     before its record), or — with --require (a run of the whole suite) — when the ledger is missing or
 *     holds no scenario for the back end asked for.
 *   tsx hack/faults-summary.ts --reset sandbox|real        drops that back end's lines (start of a run).
 *
 * The ledger is `$FAULT_LEDGER`, or `.sandbox/fault-ledger.jsonl` in the repository.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { BACKENDS, ledgerPath, readLedger, summarize, type Backend } from "../test/e2e/faults/ledger-file.ts";

function main(): number {
  const { values } = parseArgs({
    options: {
      backend: { type: "string" },
      reset: { type: "string" },
      require: { type: "boolean", default: false },
    },
  });
  const path = ledgerPath();
  if (values.reset !== undefined) {
    const backend = values.reset as Backend;
    if (!BACKENDS.includes(backend)) throw new Error(`--reset takes sandbox or real, not ${values.reset}`);
    const kept = existsSync(path) ? readLedger(path).filter((e) => e.backend !== backend) : [];
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, kept.map((e) => `${JSON.stringify(e)}\n`).join(""));
    return 0;
  }
  if (!existsSync(path)) {
    console.log(`fault scenarios: no ledger at ${path} (no fault test ran)`);
    return values.require ? 1 : 0;
  }
  const entries = readLedger(path);
  const asked = values.backend === undefined ? undefined : (values.backend as Backend);
  if (asked !== undefined && !BACKENDS.includes(asked))
    throw new Error(`--backend takes sandbox or real, not ${values.backend}`);
  const backends =
    asked !== undefined ? [asked] : BACKENDS.filter((b) => entries.some((e) => e.backend === b));
  let failed = false;
  for (const backend of backends) {
    const s = summarize(entries, backend);
    console.log(
      `fault scenarios (${backend}): ${s.run} run, ${s.acknowledgedKeys} acknowledged keys, ${s.lostKeys} lost`,
    );
    for (const line of s.losing) console.log(`  LOST ${line}`);
    for (const line of s.unrecorded) console.log(`  NO FIGURES (failed or hung before its record) ${line}`);
    if ((values.require && s.run === 0) || s.lostKeys > 0 || s.unrecorded.length > 0) failed = true;
  }
  if (values.require && backends.length === 0) {
    console.error(`fault scenarios: the ledger ${path} holds no scenario`);
    failed = true;
  }
  return failed ? 1 : 0;
}

process.exitCode = main();
