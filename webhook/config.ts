/** Command-line configuration of the webhook: `--cert-dir DIR [--port 9443] [--health-port 8081] [--host H]`. */
import { parseArgs } from "node:util";
import { AllowedSourceRanges } from "./validation/rules/source-address.ts";

/**
 * The environment variable that gives `--allow-source-cidrs` when the flag is absent: test harnesses whose
 * Redis sources live on loopback set it on the webhook's container or process.
 */
export const ALLOW_SOURCE_CIDRS_ENV = "REDIS_DR_ALLOW_SOURCE_CIDRS";

export interface WebhookConfig {
  readonly certDir: string;
  readonly host: string;
  readonly port: number;
  readonly healthPort: number;
  readonly certPollMs: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
  /** CIDR ranges `source.host` may be in although loopback, link-local…: none unless configured. */
  readonly allowedSourceCidrs: readonly string[];
  /**
   * Verify the API server's client certificate against this CA bundle (off when unset): only clients with a
   * certificate it signed complete the TLS handshake.
   */
  readonly clientCaFile?: string;
  /** With clientCaFile, the client certificate's common name must be one of these (any, when empty). */
  readonly clientNames: readonly string[];
}

export const USAGE =
  "usage: npm run webhook -- --cert-dir DIR [--port 9443] [--health-port 8081] [--host 0.0.0.0] " +
  "[--cert-poll-ms 5000] [--log-level info] [--allow-source-cidrs CIDR,CIDR] " +
  "[--client-ca-file FILE [--client-names NAME,NAME]]";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Decimal digits only: Number() would also take "", " ", "0x10" and "1e3". */
const decimal = (value: string): number => (/^[0-9]+$/.test(value) ? Number(value) : Number.NaN);

/** 0 asks the system for a free port (tests use it). */
function port(value: string, flag: string): number {
  const n = decimal(value);
  if (!(n >= 0 && n <= 65535)) throw new Error(`${flag} must be a port number (0-65535), got "${value}"`);
  return n;
}

export function parseConfig(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): WebhookConfig {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      "cert-dir": { type: "string" },
      host: { type: "string", default: "0.0.0.0" },
      port: { type: "string", default: "9443" },
      "health-port": { type: "string", default: "8081" },
      "cert-poll-ms": { type: "string", default: "5000" },
      "log-level": { type: "string", default: "info" },
      "allow-source-cidrs": { type: "string" },
      "client-ca-file": { type: "string" },
      "client-names": { type: "string" },
    },
  });
  const certDir = values["cert-dir"];
  if (certDir === undefined || certDir === "") throw new Error("--cert-dir is required");
  const certPollMs = decimal(values["cert-poll-ms"]);
  if (!(certPollMs >= 10)) {
    throw new Error(`--cert-poll-ms must be an integer ≥ 10, got "${values["cert-poll-ms"]}"`);
  }
  const logLevel = values["log-level"];
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new Error(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  }
  const allowedSourceCidrs = (values["allow-source-cidrs"] ?? env[ALLOW_SOURCE_CIDRS_ENV] ?? "")
    .split(",")
    .map((cidr) => cidr.trim())
    .filter((cidr) => cidr !== "");
  try {
    new AllowedSourceRanges(allowedSourceCidrs);
  } catch (error) {
    throw new Error(`--allow-source-cidrs: ${(error as Error).message}`);
  }
  const clientCaFile = values["client-ca-file"];
  if (clientCaFile === "") throw new Error("--client-ca-file must name a file");
  const clientNames = (values["client-names"] ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  if (clientNames.length > 0 && clientCaFile === undefined) {
    throw new Error(
      "--client-names needs --client-ca-file: names are read from verified client certificates",
    );
  }
  return {
    certDir,
    host: values.host,
    port: port(values.port, "--port"),
    healthPort: port(values["health-port"], "--health-port"),
    certPollMs,
    shutdownGraceMs: 10_000,
    logLevel,
    allowedSourceCidrs,
    ...(clientCaFile !== undefined ? { clientCaFile } : {}),
    clientNames,
  };
}
