import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pollUntil } from "../../../controller/replication/wait.ts";

describe("pollUntil", () => {
  it("checks again until the check holds", async () => {
    let calls = 0;
    assert.equal(await pollUntil(async () => ++calls === 5, 10_000), true);
    assert.equal(calls, 5);
  });

  it("gives up once the time is over, after one last check", async () => {
    let calls = 0;
    assert.equal(
      await pollUntil(async () => {
        calls++;
        return false;
      }, 0),
      false,
    );
    assert.equal(calls, 1);
  });
});
