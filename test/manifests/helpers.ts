/**
 * Shared helpers of the manifest tests: render a kustomize tree with the real `kubectl kustomize`, find the
 * objects of a kind, and locate the external tools (promtool, lua5.1) the tests run.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, stringify } from "yaml";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const MANIFESTS = path.join(REPO_ROOT, "manifests");

/** The fields every Kubernetes object has; the rest is read through `get`. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

/** The external tools the tests need, with the Debian package that installs each. */
const TOOLS = {
  kubectl: "kubectl (with kustomize v5 built in)",
  promtool: "Debian's `prometheus` package (apt-get install -y prometheus)",
  "lua5.1": "Debian's `lua5.1` package (apt-get install -y lua5.1)",
  shellcheck: "Debian's `shellcheck` package (apt-get install -y shellcheck)",
} as const;

/** Fails with a message naming the package to install when `tool` is not on PATH (never a skip). */
export function requireTool(tool: keyof typeof TOOLS): string {
  const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" });
  const location = found.stdout.trim();
  if (found.status !== 0 || location === "") {
    throw new Error(`${tool} is not installed: this test needs ${TOOLS[tool]}`);
  }
  return location;
}

function isKubeObject(value: unknown): value is KubeObject {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  const metadata = candidate["metadata"] as Record<string, unknown> | undefined;
  return (
    typeof candidate["apiVersion"] === "string" &&
    typeof candidate["kind"] === "string" &&
    typeof metadata?.["name"] === "string"
  );
}

/** Parses a multi-document YAML stream into Kubernetes objects, failing on anything that is not one. */
export function parseObjects(text: string, origin: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`${origin}: ${document.errors[0]?.message}`);
      return document.toJS() as unknown;
    })
    .filter((value) => value !== null && value !== undefined)
    .map((value) => {
      if (!isKubeObject(value))
        throw new Error(`${origin}: not a Kubernetes object: ${JSON.stringify(value)}`);
      return value;
    });
}

/** `kubectl kustomize <dir>`: kustomize's own rendering, not a hand-rolled merge. */
export function kustomize(directory: string): KubeObject[] {
  requireTool("kubectl");
  const output = execFileSync("kubectl", ["kustomize", directory], { encoding: "utf8" });
  return parseObjects(output, `kubectl kustomize ${path.relative(REPO_ROOT, directory)}`);
}

/** What a user's overlay of the default installation sets; paths are relative to manifests/. */
export interface Overlay {
  readonly components?: readonly string[];
  readonly namespace?: string;
  readonly transformers?: readonly string[];
}

/**
 * Renders the default installation through a throw-away overlay, the way a user writes one. The overlay must
 * sit outside manifests/ (kustomize refuses a base that contains its overlay) and refer to it by relative
 * paths (kustomize refuses absolute ones).
 */
export function kustomizeOverlay(overlay: Overlay): KubeObject[] {
  const directory = mkdtempSync(path.join(tmpdir(), "redis-dr-overlay-"));
  try {
    const base = path.relative(directory, MANIFESTS);
    const under = (paths: readonly string[] | undefined) => paths?.map((entry) => path.join(base, entry));
    const kustomization = {
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      resources: [base],
      components: under(overlay.components),
      namespace: overlay.namespace,
      transformers: under(overlay.transformers),
    };
    writeFileSync(path.join(directory, "kustomization.yaml"), stringify(kustomization));
    return kustomize(directory);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** The default installation plus the given components (folders under manifests/). */
export function kustomizeWithComponents(components: readonly string[]): KubeObject[] {
  return kustomizeOverlay({ components });
}

/** Every object of `kind` (and optionally `name`); fails when there is none. */
export function allOf(objects: readonly KubeObject[], kind: string, name?: string): KubeObject[] {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length === 0) throw new Error(`no ${kind}${name === undefined ? "" : ` ${name}`} rendered`);
  return found;
}

/** The one object of `kind` named `name`. */
export function oneOf(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const found = allOf(objects, kind, name);
  if (found.length !== 1) throw new Error(`${found.length} objects ${kind} ${name} rendered`);
  return found[0] as KubeObject;
}

/** Reads a nested field by path segments (object keys or array indexes); undefined when absent. */
export function get(value: unknown, ...segments: readonly (string | number)[]): unknown {
  let current: unknown = value;
  for (const segment of segments) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

/** Like `get`, for a field the test expects to be an array. */
export function list(value: unknown, ...segments: readonly (string | number)[]): unknown[] {
  const found = get(value, ...segments);
  if (!Array.isArray(found)) throw new Error(`${segments.join(".")} is not a list`);
  return found;
}

/** A temporary directory removed after `use` returns or throws. */
export function withTempDir<T>(use: (directory: string) => T): T {
  const directory = mkdtempSync(path.join(tmpdir(), "redis-dr-manifests-"));
  try {
    return use(directory);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
