/**
 * The fault ledger's file and what the summary makes of it (pure: no test runner, no cluster). Written by
 * ledger.ts, read by hack/faults-summary.ts.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Where the ledger is: `$FAULT_LEDGER`, or `.sandbox/fault-ledger.jsonl` in the repository. */
export function ledgerPath(): string {
  return resolve(REPO_ROOT, process.env["FAULT_LEDGER"] ?? join(".sandbox", "fault-ledger.jsonl"));
}

export interface LedgerEntry {
  kind: "started" | "result" | "skipped";
  backend: "sandbox" | "real";
  /** The test file, relative to the repository. */
  file: string;
  /** The test's name (what node:test prints). */
  test: string;
  /** result only */
  scenario?: string;
  acknowledgedKeys?: number;
  lostKeys?: number;
  fullResyncs?: number;
  note?: string;
}

export const BACKENDS = ["sandbox", "real"] as const;
export type Backend = (typeof BACKENDS)[number];

export function readLedger(path: string): LedgerEntry[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as LedgerEntry);
}

export interface BackendSummary {
  backend: Backend;
  run: number;
  acknowledgedKeys: number;
  lostKeys: number;
  /** Scenarios with keys lost: "file › test: L of K". */
  losing: string[];
  /** Tests that started and recorded nothing: "file › test". */
  unrecorded: string[];
}

export function summarize(entries: readonly LedgerEntry[], backend: Backend): BackendSummary {
  const mine = entries.filter((e) => e.backend === backend);
  const results = mine.filter((e) => e.kind === "result");
  const key = (e: LedgerEntry) => `${e.file} › ${e.test}`;
  const recorded = new Set(mine.filter((e) => e.kind !== "started").map(key));
  return {
    backend,
    run: results.length,
    acknowledgedKeys: results.reduce((sum, e) => sum + (e.acknowledgedKeys ?? 0), 0),
    lostKeys: results.reduce((sum, e) => sum + (e.lostKeys ?? 0), 0),
    losing: results
      .filter((e) => (e.lostKeys ?? 0) > 0)
      .map((e) => `${key(e)}: ${e.lostKeys} of ${e.acknowledgedKeys}`),
    unrecorded: [
      ...new Set(
        mine
          .filter((e) => e.kind === "started")
          .map(key)
          .filter((k) => !recorded.has(k)),
      ),
    ],
  };
}
