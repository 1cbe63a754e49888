/** A real pino logger (the webhook's own, with its redaction) writing to memory, for asserting log lines. */
import { Writable } from "node:stream";
import type { Logger } from "pino";
import { createLogger } from "../../webhook/logger.ts";

export interface CapturedLogs {
  readonly logger: Logger;
  readonly text: () => string;
  readonly lines: () => Record<string, unknown>[];
}

export function captureLogs(level = "debug"): CapturedLogs {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString("utf8"));
      callback();
    },
  });
  const logger = createLogger(level, destination);
  const text = () => chunks.join("");
  return {
    logger,
    text,
    lines: () =>
      text()
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
