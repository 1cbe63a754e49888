/**
 * `npm run gen`: writes every file generated from schemas/rediscluster.ts.
 * `renderGeneratedFiles` is also what the drift test compares with the committed files.
 */
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { renderCrdYaml } from "./crd.ts";
import { renderTypes } from "./types.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Generated files by their path relative to the repository root. */
export async function renderGeneratedFiles(): Promise<ReadonlyMap<string, string>> {
  return new Map([
    ["manifests/crd/redis.io_redisclusters.yaml", renderCrdYaml()],
    ["schemas/generated/rediscluster.ts", await renderTypes()],
  ]);
}

async function main(): Promise<void> {
  for (const [path, content] of await renderGeneratedFiles()) {
    await writeFile(ROOT + path, content);
    console.log(`wrote ${path}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main();
}
