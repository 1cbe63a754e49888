/**
 * The loopback table (test/support/loopback.ts) against the test sources: the files that start servers (the
 * redis and e2e tiers) use only their own addresses, and no two files own the same ones.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { LOOPBACK_RANGES, contains, overlappingEntries, parseCidr, type Block } from "./loopback.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const serverFiles = (readdirSync(path.join(REPO_ROOT, "test"), { recursive: true }) as string[])
  .map((file) => path.posix.join("test", file.split(path.sep).join("/")))
  .filter((file) => file.endsWith(".redis.test.ts") || file.endsWith(".e2e.test.ts"))
  .sort();

const show = ({ n, m }: Block): string => (m === undefined ? `127.${n}.0.0/16` : `127.${n}.${m}.0/24`);

/** The blocks a source uses: 127.N.M addresses and prefixes (a /24, or the /16 a `/16` literal names) and
 * sandbox ranges (`range: 24`, `RANGE = 24`, `startRegion(24)`, or a constant holding the number). */
export function blocksUsed(source: string): Block[] {
  const blocks: Block[] = [];
  for (const [, n, m, bits] of source.matchAll(/(?<![\d.])127\.(\d+)\.(\d+)(?:\.(?:\d+|x))?(?:\/(\d+))?/g)) {
    if (n === "0") continue;
    blocks.push(bits === "16" ? { n: Number(n) } : { n: Number(n), m: Number(m) });
  }
  const constant = (name: string): number | undefined => {
    const match = new RegExp(`\\bconst ${name}\\s*=\\s*(\\d+)\\b`).exec(source);
    return match ? Number(match[1]) : undefined;
  };
  const sandboxRanges = [
    ...source.matchAll(/\brange:\s*(\d+|[A-Z_]+)(?![\d.])/g),
    ...source.matchAll(/\bstartRegion\((\d+|[A-Z_]+)\b/g),
    ...source.matchAll(/\b([A-Z_]*RANGE)\s*=\s*\d+\b/g),
  ];
  for (const [, value = ""] of sandboxRanges) {
    const n = /^\d+$/.test(value) ? Number(value) : constant(value);
    if (n !== undefined) blocks.push({ n });
  }
  return blocks;
}

const entriesOf = (file: string): Block[] => (LOOPBACK_RANGES[file] ?? []).map(parseCidr);
const usedBy = new Map(
  serverFiles.map((file) => [file, blocksUsed(readFileSync(path.join(REPO_ROOT, file), "utf8"))]),
);

describe("loopback ranges", () => {
  it("are owned by one file each, and by no program under hack/", () => {
    assert.deepEqual(overlappingEntries(), []);
  });

  it("refuse a /24 inside another file's /16", () => {
    const table = {
      "a.e2e.test.ts": ["127.24.0.0/16"],
      "b.redis.test.ts": ["127.24.1.0/24", "127.25.1.0/24"],
    };
    assert.deepEqual(overlappingEntries(table, {}), [
      "a.e2e.test.ts 127.24.0.0/16 / b.redis.test.ts 127.24.1.0/24",
    ]);
  });

  it("cover every address a redis or e2e file uses", () => {
    const outside = [...usedBy].flatMap(([file, blocks]) =>
      blocks
        .filter((block) => !entriesOf(file).some((entry) => contains(entry, block)))
        .map((block) => `${file}: ${show(block)}`),
    );
    assert.deepEqual([...new Set(outside)], []);
  });

  it("name only existing files, and only ranges the file uses", () => {
    const unused = Object.keys(LOOPBACK_RANGES).flatMap((file) =>
      entriesOf(file)
        .filter((entry) => !(usedBy.get(file) ?? []).some((block) => contains(entry, block)))
        .map((entry) => `${file}: ${show(entry)}`),
    );
    assert.deepEqual(unused, []);
  });

  it("read sandbox ranges, addresses and prefixes from a source", () => {
    const source = [
      "// Loopback range 127.33.0.0/16; the source 127.33.60.1, pods 127.33.1.x",
      'const h = new DrHarness("127.23.5"); await startRegion(34); const EAST = 14;',
      "startSandbox({ range: EAST }); startSandbox({ range: 12 }); const RANGE = 61; // 127.0.0.1",
    ].join("\n");
    assert.deepEqual(blocksUsed(source).map(show), [
      "127.33.0.0/16",
      "127.33.60.0/24",
      "127.33.1.0/24",
      "127.23.5.0/24",
      "127.14.0.0/16",
      "127.12.0.0/16",
      "127.34.0.0/16",
      "127.61.0.0/16",
    ]);
  });
});
