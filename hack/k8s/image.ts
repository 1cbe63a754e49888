/**
 * Our container image's /app without Docker: schemas/, kube-common/, webhook/ and controller/ compiled by
 * `tsc` exactly as the Dockerfile's build stage compiles them, beside package.json and the dependencies. The
 * node agent runs the image `redis-dr` with this directory bound at /app (hack/sandbox/kubelet/image.ts), so
 * the Deployments of manifests/ run the programs in the form that ships.
 *
 * Cached in .sandbox/image/<hash of the sources>/, so test files share one compilation; a compilation goes
 * to a temporary directory renamed into place when complete.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

// Not imported from hack/sandbox/sandbox.ts, which starts the programs from here (no import cycle).
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const SOURCES = ["schemas", "kube-common", "webhook", "controller"];

/** The source folders `sourceRoot` has: an older revision (a benchmark's baseline) predates kube-common/. */
const sourcesIn = (sourceRoot: string): string[] =>
  SOURCES.filter((dir) => existsSync(join(sourceRoot, dir)));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/**
 * The image's programs run as the Deployments' non-root users (runAsUser 65532), and /app and its
 * node_modules are directories of this checkout: every directory on their paths must let others through
 * (the execute bit; nothing becomes listable or readable). A checkout made in a `mktemp -d` directory (0700)
 * would otherwise make the webhook and controller pods fail at start. Adds the bit where it is missing.
 */
function traversableByAll(path: string): void {
  for (let dir = realpathSync(path); ; dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) chmodSync(dir, (mode & 0o7777) | 0o001);
    if (dirname(dir) === dir) return;
  }
}

/**
 * Compiles the image's programs (or finds them compiled) and returns the /app directory. `sourceRoot` (default:
 * this checkout) may be another copy of the sources, e.g. an older commit's for a side-by-side benchmark; the
 * dependencies are this checkout's.
 */
export function productImageDir(sourceRoot = REPO_ROOT): string {
  const dir = compiledImageDir(sourceRoot);
  traversableByAll(dir);
  traversableByAll(join(REPO_ROOT, "node_modules"));
  return dir;
}

/** The dependencies a container of the image sees at /app/node_modules: this checkout's. */
export const imageDependencies = (): string => join(REPO_ROOT, "node_modules");

function compiledImageDir(sourceRoot: string): string {
  const files = sourcesIn(sourceRoot)
    .flatMap((dir) => sourceFiles(join(sourceRoot, dir)))
    .sort();
  const hash = createHash("sha256");
  // This file too: the image's layout is written here.
  const layout = fileURLToPath(import.meta.url);
  for (const file of [
    ...files,
    join(sourceRoot, "tsconfig.json"),
    join(sourceRoot, "package-lock.json"),
    layout,
  ]) {
    hash.update(relative(sourceRoot, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  const root = join(REPO_ROOT, ".sandbox", "image");
  const dir = join(root, hash.digest("hex").slice(0, 16));
  if (existsSync(join(dir, "package.json"))) return dir;
  mkdirSync(root, { recursive: true });
  const work = join(root, `.build-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const tsconfig = join(work, "tsconfig.json");
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(sourceRoot, "tsconfig.json"),
      include: sourcesIn(sourceRoot).map((s) => join(sourceRoot, s)),
    }),
  );
  // The Dockerfile's flags: .ts import specifiers become .js in the output.
  const result = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"),
      "--project",
      tsconfig,
      "--noEmit",
      "false",
      "--allowImportingTsExtensions",
      "false",
      "--rewriteRelativeImportExtensions",
      "--rootDir",
      sourceRoot,
      "--outDir",
      work,
    ],
    { encoding: "utf8" },
  );
  if (result.status !== 0)
    throw new Error(`compiling the image's programs failed:\n${result.stdout}${result.stderr}`);
  rmSync(tsconfig);
  copyFileSync(join(sourceRoot, "package.json"), join(work, "package.json"));
  // An empty mount point: the node agent binds the dependencies there (imageDependencies), since a symlink
  // would be resolved inside the container, where the checkout's directory may be hidden (a private /tmp).
  // Run on the host, Node finds them by walking up to this checkout's node_modules.
  mkdirSync(join(work, "node_modules"));
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  return dir;
}

interface Container {
  args?: string[];
  env?: { name: string; value?: string }[];
}

/**
 * How the Deployment of `program` (manifests/<program>/deployment.yaml under `sourceRoot`) starts its
 * container: the Node options before the entry point (the container's args start with them, the image's
 * ENTRYPOINT is `node`), and the environment variables it sets to a literal value (those from a fieldRef
 * are the pod's; the caller sets what it needs of them). Nothing when the revision has no such file.
 */
export function deploymentStart(
  program: "webhook" | "controller",
  sourceRoot: string,
): { nodeArgs: string[]; env: Record<string, string> } {
  const file = join(sourceRoot, "manifests", program, "deployment.yaml");
  if (!existsSync(file)) return { nodeArgs: [], env: {} };
  for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
    const object = document.toJS() as {
      kind?: string;
      spec?: { template?: { spec?: { containers?: Container[] } } };
    } | null;
    if (object?.kind !== "Deployment") continue;
    for (const container of object.spec?.template?.spec?.containers ?? []) {
      const args = container.args ?? [];
      const main = args.indexOf(`${program}/main.js`);
      if (main < 0) continue;
      const env: Record<string, string> = {};
      for (const { name, value } of container.env ?? []) if (value !== undefined) env[name] = value;
      return { nodeArgs: args.slice(0, main), env };
    }
  }
  return { nodeArgs: [], env: {} };
}

/**
 * How the image starts one of its programs (the Dockerfile's `ENV NODE_ENV=production`, and `node`, the Node
 * options of the program's Deployment, `<main.js>`, with the Deployment's literal environment): the options,
 * the compiled entry point, and the environment to add.
 */
export function shippedProgram(
  program: "webhook" | "controller",
  sourceRoot = REPO_ROOT,
): {
  readonly nodeArgs: readonly string[];
  readonly main: string;
  readonly env: Readonly<Record<string, string>>;
} {
  const { nodeArgs, env } = deploymentStart(program, sourceRoot);
  return {
    nodeArgs,
    main: join(productImageDir(sourceRoot), program, "main.js"),
    env: { NODE_ENV: "production", ...env },
  };
}

/**
 * The sources of the image's programs at git revision `rev` (with their Deployments, tsconfig.json,
 * package.json and package-lock.json), extracted once into .sandbox/sources/<commit>/: a `sourceRoot` for the
 * functions above.
 */
export function sourcesAt(rev: string): string {
  const git = (args: string[], input?: Buffer) => {
    const result = spawnSync("git", args, {
      cwd: REPO_ROOT,
      ...(input ? { input } : {}),
      maxBuffer: 1 << 28,
    });
    if (result.status !== 0) throw new Error(`git ${args.join(" ")} failed: ${String(result.stderr)}`);
    return result.stdout;
  };
  const commit = git(["rev-parse", "--verify", `${rev}^{commit}`])
    .toString("utf8")
    .trim();
  const dir = join(REPO_ROOT, ".sandbox", "sources", commit);
  if (existsSync(join(dir, "package.json"))) return dir;
  const work = `${dir}.${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const present = new Set(git(["ls-tree", "--name-only", commit]).toString("utf8").split("\n"));
  const sources = SOURCES.filter((dir) => present.has(dir));
  // The Deployments too: they hold the Node options the programs start with (shippedProgram).
  const deployments = sources
    .map((dir) => `manifests/${dir}/deployment.yaml`)
    .filter((path) => git(["ls-tree", "--name-only", commit, path]).length > 0);
  const paths = [...sources, ...deployments, "tsconfig.json", "package.json", "package-lock.json"];
  const archive = git(["archive", "--format=tar", commit, ...paths]);
  const untar = spawnSync("tar", ["-x", "-C", work], { input: archive });
  if (untar.status !== 0) throw new Error(`extracting ${commit} failed: ${String(untar.stderr)}`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  return dir;
}
