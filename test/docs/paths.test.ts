/**
 * The contributor docs name files and folders; each must exist, so the docs cannot drift from the tree
 * unnoticed (issue 19). Checked: every inline code span that looks like a path (has a `/`), every path in a
 * fenced block that starts with a top-level folder, and every relative Markdown link. A span with `*` must
 * match at least one file.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const TOP_FOLDERS = [
  "controller",
  "webhook",
  "kube-common",
  "schemas",
  "hack",
  "test",
  "manifests",
  "plugin",
  "docs",
];
const FENCE = /^```[^\n]*\n([\s\S]*?)^```/gm;

/**
 * A relative file or folder name: `a/b.ts`, `a/b/`, `a/*.ts` — not a URL path (`/healthz`), a label key
 * (`redis.io/role`), a CIDR (`127.N.0.0/16`) or a condition pair (`True/Monitored`).
 */
const looksLikePath = (span: string): boolean =>
  /^[\w.*-]+(\/[\w.*-]+)*\/?$/.test(span) &&
  span.includes("/") &&
  (span.endsWith("/") || span.includes("*") || /\.(ts|js|md|sh|json|yaml)$/.test(span));

/** The paths `markdown` names, as written. */
export function namedPaths(markdown: string): string[] {
  const fenced = [...markdown.matchAll(FENCE)].map((m) => m[1] ?? "");
  const prose = markdown.replace(FENCE, "");
  const spans = [...prose.matchAll(/`([^`\s]+)`/g)].map((m) => m[1] ?? "");
  const inFences = fenced.flatMap((block) =>
    [...block.matchAll(/[\w.-]+(?:\/[\w.*-]+)+\/?/g)]
      .map((m) => m[0])
      .filter((p) => TOP_FOLDERS.some((top) => p.startsWith(`${top}/`))),
  );
  const links = [...prose.matchAll(/\]\(([^)\s#]+)\)/g)]
    .map((m) => m[1] ?? "")
    .filter((target) => !/^[a-z]+:/.test(target));
  return [...spans.filter(looksLikePath), ...inFences, ...links];
}

function exists(base: string, path: string): boolean {
  const full = join(base, path.replace(/\/$/, ""));
  if (!path.includes("*")) return existsSync(full);
  const dir = dirname(full);
  const pattern = new RegExp(
    `^${full
      .slice(dir.length + 1)
      .replace(/\./g, "\\.")
      .replace(/\*/g, ".*")}$`,
  );
  return existsSync(dir) && readdirSync(dir).some((name) => pattern.test(name));
}

describe("paths named by the contributor docs", () => {
  it("finds paths in spans, fences and links, and not in prose", () => {
    assert.deepEqual(
      namedPaths(
        "see `a/b.ts` and `not a path` and `INFO`\n```\ncontroller/x.ts --> webhook/y/\n/validate\n```\n[t](docs/z.md) [u](https://x/y)",
      ),
      ["a/b.ts", "controller/x.ts", "webhook/y/", "docs/z.md"],
    );
  });

  for (const [doc, bases] of [
    ["ARCHITECTURE.md", [REPO_ROOT]],
    ["CONTRIBUTING.md", [REPO_ROOT]],
    // The controller's README names its files relative to controller/, and the repository's from the root.
    ["controller/README.md", [join(REPO_ROOT, "controller"), REPO_ROOT]],
  ] as const) {
    it(`${doc}: every path it names exists`, () => {
      const text = readFileSync(join(REPO_ROOT, doc), "utf8");
      const paths = namedPaths(text);
      assert.ok(paths.length > 5, `${doc} names ${paths.length} paths`);
      const docDir = dirname(join(REPO_ROOT, doc));
      const missing = paths.filter((p) => ![...bases, docDir].some((base) => exists(base, p)));
      assert.deepEqual(missing, []);
    });
  }
});
