/**
 * The demo's voice: numbered steps, the commands a user would type, and what we observed — plain lines a
 * person can follow and a CI log keeps readable (colour only on a terminal).
 */
import { displayCommand } from "../../lib/kubectl.ts";

const tty = process.stdout.isTTY === true;
const paint = (code: string, text: string) => (tty ? `\u001b[${code}m${text}\u001b[0m` : text);

export class Narrator {
  private readonly started = Date.now();
  private stepNumber = 0;
  readonly marks: { atMs: number; label: string }[] = [];

  constructor(
    private readonly totalSteps: number,
    private readonly write: (line: string) => void = (line) => process.stdout.write(line + "\n"),
  ) {}

  elapsedMs(): number {
    return Date.now() - this.started;
  }

  private clock(): string {
    return paint("2", `[${(this.elapsedMs() / 1000).toFixed(1).padStart(5)}s]`);
  }

  step(title: string, why?: string): void {
    this.stepNumber++;
    this.marks.push({ atMs: this.elapsedMs(), label: `${this.stepNumber}. ${title}` });
    this.write("");
    this.write(`${this.clock()} ${paint("1", `Step ${this.stepNumber}/${this.totalSteps} — ${title}`)}`);
    if (why !== undefined) this.write(`         ${paint("2", why)}`);
  }

  command(args: readonly string[], stdinNote?: string): void {
    this.write(
      `         ${paint("36", "$ " + displayCommand(args))}${stdinNote === undefined ? "" : `  ${paint("2", `# ${stdinNote}`)}`}`,
    );
  }

  /** Lines kubectl (or Redis) printed, indented. */
  output(text: string, maxLines = 12): void {
    const lines = text
      .trimEnd()
      .split("\n")
      .filter((l) => l.trim() !== "");
    for (const line of lines.slice(0, maxLines)) this.write(`           ${line}`);
    if (lines.length > maxLines) this.write(`           … (${lines.length - maxLines} more lines)`);
  }

  observe(text: string): void {
    this.write(`${this.clock()}   ${paint("32", "✓")} ${text}`);
  }

  note(text: string): void {
    this.write(`         ${text}`);
  }

  fail(text: string): void {
    this.write(`${this.clock()}   ${paint("31", "✗")} ${text}`);
  }

  raw(text: string): void {
    this.write(text);
  }
}
