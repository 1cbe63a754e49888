/**
 * The top self-time functions of a V8 CPU profile (`node --cpu-prof`, e.g. `npm run bench:admission --
 * --profile DIR`), and self time summed per package or per source folder:
 *
 *   node --import tsx hack/bench/cpu-profile-top.ts FILE.cpuprofile [N]
 *
 * Self time is the time a function was on top of the stack, from the samples' time deltas. "(idle)" is the
 * event loop waiting, "(garbage collector)" V8's collector, "(program)" native code V8 cannot attribute.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const [file, count = "30"] = process.argv.slice(2);
if (file === undefined) throw new Error("usage: cpu-profile-top.ts FILE.cpuprofile [N]");
const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));

/** Where a function lives: a package under node_modules, a folder of the compiled app, or node itself. */
function shorten(url: string): string {
  return url.replace(/^.*node_modules\//, "npm:").replace(/^.*\/image\/[0-9a-f]+\//, "app:");
}
function areaOf(url: string, name: string): string {
  const short = shorten(url);
  const pkg = /^npm:((?:@[^/]+\/)?[^/]+)/.exec(short) ?? /^app:([^/]+\/[^/]+)\//.exec(short);
  if (pkg?.[1] !== undefined) return pkg[1];
  if (short.startsWith("node:")) return "node";
  return url === "" && name.startsWith("(") ? name : "native";
}

const self = new Map<string, number>();
const areas = new Map<string, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const micros = profile.timeDeltas[i] ?? 0;
  const frame = nodes.get(id)?.callFrame;
  if (frame === undefined) return;
  total += micros;
  const name = frame.functionName || "(anonymous)";
  const key = `${name} ${shorten(frame.url)}:${frame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + micros);
  const area = areaOf(frame.url, name);
  areas.set(area, (areas.get(area) ?? 0) + micros);
});

const percent = (micros: number) => `${((100 * micros) / total).toFixed(1).padStart(5)} %`;
const top = (map: Map<string, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n);
console.log(`${(total / 1e6).toFixed(2)} s sampled; self time:`);
for (const [key, micros] of top(self, Number(count))) console.log(`${percent(micros)}  ${key}`);
console.log("\nself time by package or folder:");
for (const [key, micros] of top(areas, 20)) console.log(`${percent(micros)}  ${key}`);
