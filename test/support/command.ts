/** The `kubectl patch` command a denial prints, split into arguments by a real POSIX shell. */
import { execFileSync } from "node:child_process";

export const COMMAND_PATTERN = /kubectl patch \S+ \S+ -n \S+ --type=merge -p '(?:[^']|'\\'')*'/;

export function commandIn(message: string): string {
  const match = COMMAND_PATTERN.exec(message);
  if (!match) throw new Error(`no kubectl patch command in: ${message}`);
  return match[0];
}

/** The arguments `sh` would pass to kubectl, and the merge patch given with -p. */
export function shellArguments(command: string): { args: string[]; patch: unknown } {
  const rest = command.replace(/^kubectl /, "");
  const output = execFileSync("sh", ["-c", `printf '%s\\0' ${rest}`], { encoding: "utf8" });
  const args = output.split("\0").slice(0, -1);
  const p = args.indexOf("-p");
  return { args, patch: JSON.parse(args[p + 1] ?? "null") };
}
