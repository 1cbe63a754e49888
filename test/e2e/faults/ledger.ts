/**
 * The fault suite's ledger: every fault scenario records what was at stake and what was lost, so the
 * suite's summary (hack/faults-summary.ts, printed at the end of `npm test` for each back end) can say
 * "fault scenarios: N run, K acknowledged keys, L lost" — and fail when L > 0 or a scenario that started
 * never recorded its figures.
 *
 *   trackScenarios();                                        // once per fault test file, at top level
 *   it("…", async (t) => {
 *     …
 *     await assertNothingLost(t, { view, pods, password, keys: acknowledged });
 *     // or, where no keys are at stake: recordScenario(t, { acknowledgedKeys: 0, lostKeys: 0, note: "…" })
 *   });
 *
 * One JSON line per event, appended to `$FAULT_LEDGER` (default `.sandbox/fault-ledger.jsonl` in the
 * repository): `{"kind":"started",…}` before each test of a tracked file, `{"kind":"result",…}` from
 * recordScenario. The record is written before the "nothing lost" assertion, so a failing scenario is in the
 * ledger with its losses.
 */
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { beforeEach, type TestContext } from "node:test";
import type { RegionView } from "../../../hack/lib/observe.ts";
import { e2eBackend } from "../../../hack/k8s/testing.ts";
import { keysMissing } from "../../support/region-fixture.ts";
import { REPO_ROOT, ledgerPath, type LedgerEntry } from "./ledger-file.ts";

export { ledgerPath, type LedgerEntry };

function append(entry: LedgerEntry): void {
  const path = ledgerPath();
  mkdirSync(dirname(path), { recursive: true });
  // One short line per write with O_APPEND: concurrent test files do not interleave.
  appendFileSync(path, `${JSON.stringify(entry)}\n`);
}

const testFile = (): string => relative(REPO_ROOT, resolve(process.argv[1] ?? "unknown"));

/** Records a "started" line before every test of this file, so a scenario that never reports is seen. */
export function trackScenarios(): void {
  beforeEach((t) => {
    append({ kind: "started", backend: e2eBackend(), file: testFile(), test: t.name });
  });
}

export interface ScenarioFigures {
  /** A short name for the summary (default: the test's name). */
  scenario?: string;
  /** Keys a client saw acknowledged (by the source or a DR pod) that the scenario checks afterwards. */
  acknowledgedKeys: number;
  /** Of those, how many are missing from at least one pod afterwards. */
  lostKeys: number;
  /** Full resyncs served during the scenario, where the scenario counts them. */
  fullResyncs?: number;
  /** Why there are no keys at stake, or anything the reader of the ledger should know. */
  note?: string;
}

/** Skips the test, with the reason in the ledger (a skipped scenario is neither run nor missing). */
export function skipScenario(t: TestContext, reason: string): void {
  append({ kind: "skipped", backend: e2eBackend(), file: testFile(), test: t.name, note: reason });
  t.skip(reason);
}

/** Emits the figures as a test diagnostic and appends them to the ledger. */
export function recordScenario(t: TestContext, figures: ScenarioFigures): void {
  const scenario = figures.scenario ?? t.name;
  const resyncs = figures.fullResyncs === undefined ? "" : `, ${figures.fullResyncs} full resyncs`;
  const note = figures.note === undefined ? "" : ` (${figures.note})`;
  t.diagnostic(
    `fault scenario "${scenario}": ${figures.acknowledgedKeys} acknowledged keys, ${figures.lostKeys} lost${resyncs}${note}`,
  );
  append({
    kind: "result",
    backend: e2eBackend(),
    file: testFile(),
    test: t.name,
    scenario,
    acknowledgedKeys: figures.acknowledgedKeys,
    lostKeys: figures.lostKeys,
    ...(figures.fullResyncs === undefined ? {} : { fullResyncs: figures.fullResyncs }),
    ...(figures.note === undefined ? {} : { note: figures.note }),
  });
}

/**
 * Reads every acknowledged key back from every pod (polled until `timeoutMs`: replicas may still be
 * applying), records the figures, then asserts that none is lost.
 */
export async function assertNothingLost(
  t: TestContext,
  options: {
    view: RegionView;
    pods: readonly string[];
    password: string;
    keys: readonly string[];
    scenario?: string;
    fullResyncs?: number;
    note?: string;
    timeoutMs?: number;
  },
): Promise<void> {
  const missing = await keysMissing(
    options.view,
    options.pods,
    options.password,
    options.keys,
    options.timeoutMs,
  );
  recordScenario(t, {
    ...(options.scenario === undefined ? {} : { scenario: options.scenario }),
    acknowledgedKeys: options.keys.length,
    lostKeys: missing.lost,
    ...(options.fullResyncs === undefined ? {} : { fullResyncs: options.fullResyncs }),
    ...(options.note === undefined ? {} : { note: options.note }),
  });
  assert.equal(missing.lost, 0, `acknowledged keys lost: ${missing.detail}`);
}
