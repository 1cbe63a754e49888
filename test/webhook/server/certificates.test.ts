/** CertificateWatcher on its own: a half-written rotation is reported once, not at every poll. */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CertificateWatcher } from "../../../webhook/server/certificates.ts";
import { createTestCa } from "../../support/certs.ts";
import { captureLogs } from "../../support/logs.ts";

const POLL_MS = 10;
const dirs: string[] = [];
const watchers: CertificateWatcher[] = [];

after(async () => {
  for (const watcher of watchers) watcher.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Replaces one file whole (write aside, rename), so a poll never reads half of it. */
async function put(dir: string, name: "tls.crt" | "tls.key", content: string): Promise<void> {
  await writeFile(join(dir, `${name}.tmp`), content);
  await rename(join(dir, `${name}.tmp`), join(dir, name));
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

test("warns once per unusable key pair however many polls see it, and loads the pair once it is whole", async () => {
  const dir = await mkdtemp(join(tmpdir(), "redis-dr-certs-watch-"));
  dirs.push(dir);
  const ca = await createTestCa();
  const [first, second, third] = [await ca.issue("first"), await ca.issue("second"), await ca.issue("third")];
  await put(dir, "tls.crt", first.cert);
  await put(dir, "tls.key", first.key);
  const logs = captureLogs("info");
  const watcher = new CertificateWatcher(dir, POLL_MS, logs.logger);
  watchers.push(watcher);
  const reloaded: string[] = [];
  watcher.onChange((pair) => reloaded.push(pair.cert.toString()));
  assert.equal((await watcher.start()).cert.toString(), first.cert);

  const messages = () => logs.lines().map((line) => line.msg);
  const notUsable = () =>
    messages().filter((msg) => msg === "serving certificate and key are not usable yet");

  // A rotation half written: the new certificate beside the old key.
  await put(dir, "tls.crt", second.cert);
  await until(() => notUsable().length === 1, "the mismatch to be reported");
  // Many polls see the same files: a wait, not a timing assertion (more polls only make the check stronger).
  await sleep(50 * POLL_MS);
  assert.equal(notUsable().length, 1);

  // Another unusable pair is a new problem: reported once more.
  await put(dir, "tls.crt", third.cert);
  await until(() => notUsable().length === 2, "the second mismatch to be reported");
  await sleep(50 * POLL_MS);

  await put(dir, "tls.key", third.key);
  await until(() => reloaded.length === 1, "the completed rotation");
  assert.equal(watcher.keyPair?.cert.toString(), third.cert);
  assert.deepEqual(messages(), [
    "serving certificate loaded",
    "serving certificate and key are not usable yet",
    "serving certificate and key are not usable yet",
    "serving certificate reloaded",
  ]);
});
