/** The webhook's root logger, built once in main and passed down. */
import { pino, type DestinationStream, type Logger } from "pino";

/**
 * Paths that could hold Secret material if an object were ever logged whole: redacted as defence in depth
 * (the webhook logs decisions and field paths, not objects).
 */
const REDACT_PATHS = [
  "*.password",
  "*.data",
  "*.stringData",
  "*.object.data",
  "*.object.stringData",
  "*.oldObject.data",
  "*.oldObject.stringData",
  "*.headers.authorization",
  "*.key",
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { name: "redis-dr-webhook", level, redact: { paths: REDACT_PATHS, censor: "[REDACTED]" } },
    destination,
  );
}
