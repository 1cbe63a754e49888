import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WorkQueue } from "../../../controller/watch/work-queue.ts";
import { waitFor } from "../../support/redis-process.ts";

describe("WorkQueue", () => {
  it("de-duplicates a key added while it waits", async () => {
    const queue = new WorkQueue();
    const runs: string[] = [];
    queue.add("a");
    queue.add("a");
    queue.add("b");
    const running = queue.run(
      async (key) => {
        runs.push(key);
        return {};
      },
      1,
      () => undefined,
    );
    await waitFor("both keys", () => runs.length === 2);
    queue.shutdown();
    await running;
    assert.deepEqual(runs, ["a", "b"]);
  });

  it("never runs one key twice at once, and runs it again when it changed meanwhile", async () => {
    const queue = new WorkQueue();
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let release: () => void = () => undefined;
    const first = new Promise<void>((resolve) => (release = resolve));
    const running = queue.run(
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        runs++;
        if (runs === 1) await first;
        active--;
        return {};
      },
      4,
      () => undefined,
    );
    queue.add("a");
    await waitFor("first run", () => runs === 1);
    queue.add("a");
    queue.add("a");
    release();
    await waitFor("second run", () => runs === 2);
    queue.shutdown();
    await running;
    assert.equal(maxActive, 1);
    assert.equal(runs, 2);
  });

  it("retries a failing key with growing delays and forgets them after a success", async () => {
    const queue = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 1000 });
    const delays: number[] = [];
    let calls = 0;
    queue.add("a");
    const running = queue.run(
      async () => {
        calls++;
        if (calls <= 3) throw new Error("boom");
        return {};
      },
      1,
      (_key, _error, retryInMs) => delays.push(retryInMs),
    );
    await waitFor("success", () => calls === 4);
    queue.shutdown();
    await running;
    assert.deepEqual(delays, [10, 20, 40]);
    assert.equal(queue.addRateLimited("a"), 10);
  });

  it("comes back to a key after the delay its run asked for", async () => {
    const queue = new WorkQueue();
    let calls = 0;
    queue.add("a");
    const running = queue.run(
      async () => {
        calls++;
        return calls === 1 ? { requeueAfterMs: 20 } : {};
      },
      1,
      () => undefined,
    );
    await waitFor("requeued run", () => calls === 2);
    queue.shutdown();
    await running;
    assert.equal(calls, 2);
  });
});

describe("WorkQueue.addAfter", () => {
  it("lets a shorter delay replace a longer pending one, and keeps a shorter pending one", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const queue = new WorkQueue();
    queue.addAfter("a", 60_000);
    queue.addAfter("a", 100);
    queue.addAfter("b", 100);
    queue.addAfter("b", 60_000);
    t.mock.timers.tick(99);
    assert.equal(queue.length, 0);
    t.mock.timers.tick(1);
    assert.equal(queue.length, 2);
    queue.shutdown();
  });
});
