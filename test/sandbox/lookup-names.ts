/** Fixture for network.e2e.test.ts: prints `name address` for each name, resolved like any Node program would. */
import { lookup } from "node:dns/promises";

for (const name of process.argv.slice(2)) {
  const address = await lookup(name, { family: 4 }).then(
    (r) => r.address,
    () => "unresolved",
  );
  process.stdout.write(`${name} ${address}\n`);
}
