/**
 * The standing connection to a replica cluster's source (replication/source-watch.ts): the cluster is
 * reconciled at once when the connection ends, and also when it fails as it is made because the source
 * stopped answering — the source may be restarting empty, and Redis re-connects the pods within a second.
 * A hand-written admin port: only the order of calls matters here.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import {
  RedisAdminError,
  type RedisAdmin,
  type RedisAdminFactory,
  type RedisFailureKind,
} from "../../../controller/redis/admin-port.ts";
import { SourceWatch } from "../../../controller/replication/source-watch.ts";

const SOURCE = { host: "127.0.0.9", port: 6379 };
const flush = () => new Promise((resolve) => setImmediate(resolve));

/** Each connection's first INFO fails with `failure` (none: it answers, and the connection ends on `end()`). */
function factory(failure?: RedisFailureKind): RedisAdminFactory & { connections: number; end(): void } {
  let end: () => void = () => undefined;
  const made = {
    connections: 0,
    end: () => end(),
    connect(): RedisAdmin {
      made.connections++;
      const closed = new Promise<void>((resolve) => (end = resolve));
      return {
        replication: () =>
          failure === undefined
            ? Promise.resolve({} as never)
            : Promise.reject(
                new RedisAdminError(failure, "127.0.0.9:6379", `INFO on 127.0.0.9:6379: ${failure}`),
              ),
        closed: () => closed,
        close: () => Promise.resolve(),
      } as unknown as RedisAdmin;
    },
  };
  return made;
}

describe("SourceWatch", () => {
  it("reconciles the cluster when the standing connection ends", async () => {
    const woken: string[] = [];
    const source = factory();
    new SourceWatch(source, (key) => woken.push(key), pino({ level: "silent" })).watch("ns/dr", SOURCE);
    await flush();
    assert.deepEqual(woken, []);
    source.end();
    await flush();
    assert.deepEqual(woken, ["ns/dr"]);
  });

  it("reconciles the cluster when the source stops answering as the watch is made, at most once a second", async () => {
    const woken: string[] = [];
    const watch = new SourceWatch(
      factory("unreachable"),
      (key) => woken.push(key),
      pino({ level: "silent" }),
    );
    watch.watch("ns/dr", SOURCE);
    await flush();
    assert.deepEqual(woken, ["ns/dr"]);
    watch.watch("ns/dr", SOURCE); // the woken pass reached the source and asked again: failing again, no loop
    await flush();
    assert.deepEqual(woken, ["ns/dr"]);
  });

  it("drops a watch refused for another reason quietly: no pass is due", async () => {
    const woken: string[] = [];
    const source = factory("auth");
    const watch = new SourceWatch(source, (key) => woken.push(key), pino({ level: "silent" }));
    watch.watch("ns/dr", SOURCE);
    await flush();
    assert.deepEqual(woken, []);
    watch.watch("ns/dr", SOURCE); // dropped: the next call makes it again
    assert.equal(source.connections, 2);
  });
});
