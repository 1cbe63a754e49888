/** The fault summary's arithmetic: totals per back end, losses and scenarios that never recorded figures. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { summarize, type LedgerEntry } from "./ledger-file.ts";

const started = (backend: "sandbox" | "real", test: string): LedgerEntry => ({
  kind: "started",
  backend,
  file: "test/e2e/faults/x.test.ts",
  test,
});
const result = (
  backend: "sandbox" | "real",
  test: string,
  acknowledgedKeys: number,
  lostKeys: number,
): LedgerEntry => ({ ...started(backend, test), kind: "result", scenario: test, acknowledgedKeys, lostKeys });

describe("the fault ledger's summary", () => {
  it("adds up each back end on its own and lists the scenarios that lost keys", () => {
    const entries = [
      started("sandbox", "a"),
      result("sandbox", "a", 1000, 0),
      started("sandbox", "b"),
      result("sandbox", "b", 500, 3),
      started("real", "a"),
      result("real", "a", 1000, 0),
    ];
    assert.deepEqual(summarize(entries, "sandbox"), {
      backend: "sandbox",
      run: 2,
      acknowledgedKeys: 1500,
      lostKeys: 3,
      losing: ["test/e2e/faults/x.test.ts › b: 3 of 500"],
      unrecorded: [],
    });
    assert.deepEqual(summarize(entries, "real"), {
      backend: "real",
      run: 1,
      acknowledgedKeys: 1000,
      lostKeys: 0,
      losing: [],
      unrecorded: [],
    });
  });

  it("names a scenario that started and never recorded its figures", () => {
    const entries = [started("real", "a"), result("real", "a", 10, 0), started("real", "hung")];
    assert.deepEqual(summarize(entries, "real").unrecorded, ["test/e2e/faults/x.test.ts › hung"]);
    assert.equal(summarize(entries, "sandbox").run, 0);
  });

  it("counts a skipped scenario neither as run nor as missing", () => {
    const entries = [started("real", "s"), { ...started("real", "s"), kind: "skipped" as const }];
    assert.deepEqual([summarize(entries, "real").run, summarize(entries, "real").unrecorded], [0, []]);
  });
});
