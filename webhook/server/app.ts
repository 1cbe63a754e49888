/**
 * The admission HTTP surface, a plain node:http request listener: read the body, parse, hand the review to
 * handleReview, send. Every bad input gets a clear 4xx as a Kubernetes Status; nothing a client sends can
 * crash or hang the server.
 *
 * Not express: under load the CPU profile had express's router, body-parser and the helpers they run per
 * request (type-is, raw-body, parseurl, on-finished) at a fifth of the webhook's time, for two fixed POST
 * routes. What body-parser's JSON reader did for us is here: the media type, a UTF charset, gzip / deflate /
 * br content encoding, the size limit (before reading from Content-Length, and while reading).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { handleReview } from "../admission/handle-review.ts";
import { parseAdmissionReview } from "../admission/review.ts";
import type { Admit } from "../admission/admit.ts";
import { UNKNOWN_OPERATION, type Decision, type Endpoint, type WebhookMetrics } from "../metrics.ts";

export const MUTATE_PATH = "/mutate-redis-io-v1-rediscluster";
export const VALIDATE_PATH = "/validate-redis-io-v1-rediscluster";

/**
 * The largest AdmissionReview worth reading. An object the API server can store is at most 1.5 MiB (etcd's
 * default --max-request-bytes, which managed clusters keep; the API server itself takes request bodies up to
 * 3 MiB, but a larger object is refused by etcd anyway): an UPDATE carries two, object and oldObject, plus
 * the envelope (userInfo, options), for which 512 KiB is ample. A valid RedisCluster is a few KiB.
 */
export const BODY_LIMIT_BYTES = 3.5 * 1024 * 1024;

export type AdmissionListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface AppDeps {
  readonly mutate: Admit;
  readonly validate: Admit;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  /**
   * When set (and not empty), only clients whose verified certificate has one of these common names are
   * answered: the API server's names under --client-ca-file.
   */
  readonly clientNames?: readonly string[];
}

function sendJson(
  res: ServerResponse,
  code: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(value);
  res.writeHead(code, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(body)),
  });
  res.end(body);
}

function sendStatus(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  headers?: Record<string, string>,
): void {
  sendJson(
    res,
    code,
    { apiVersion: "v1", kind: "Status", status: "Failure", code, reason, message },
    headers,
  );
}

/** A request refused while its body is read: the HTTP status, the Status reason and message. */
class BodyError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const hasBody = (req: IncomingMessage) =>
  req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] ?? "0") !== "0";

/** The media type (lower case, no parameters) and the charset parameter of a Content-Type header. */
function contentType(header: string | undefined): { type: string; charset: string | undefined } {
  const [type = "", ...params] = (header ?? "").split(";");
  let charset: string | undefined;
  for (const param of params) {
    const at = param.indexOf("=");
    if (param.slice(0, at).trim().toLowerCase() === "charset") {
      charset = param
        .slice(at + 1)
        .trim()
        .replace(/^"(.*)"$/, "$1")
        .toLowerCase();
    }
  }
  return { type: type.trim().toLowerCase(), charset };
}

function decoded(req: IncomingMessage): Readable {
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase();
  if (encoding === "identity") return req;
  const inflate =
    encoding === "gzip"
      ? createGunzip()
      : encoding === "deflate"
        ? createInflate()
        : encoding === "br"
          ? createBrotliDecompress()
          : undefined;
  if (inflate === undefined) {
    throw new BodyError(415, "UnsupportedMediaType", `unsupported content encoding "${encoding}"`);
  }
  req.pipe(inflate);
  return inflate;
}

/** Reads the JSON body, at most `limit` bytes (after decompression), in a UTF charset. */
function readJsonBody(req: IncomingMessage, charset: string | undefined, limit: number): Promise<unknown> {
  const tooLarge = () =>
    new BodyError(413, "RequestEntityTooLarge", `the body is larger than ${BODY_LIMIT_BYTES} bytes`);
  const name = charset ?? "utf-8";
  // JSON is UTF-8, -16 or -32 (RFC 8259 allows only UTF-8 between systems; body-parser took any UTF).
  let decoder: TextDecoder | undefined;
  try {
    decoder = name.startsWith("utf-") ? new TextDecoder(name, { fatal: false }) : undefined;
  } catch {
    decoder = undefined;
  }
  if (decoder === undefined) {
    return Promise.reject(
      new BodyError(415, "UnsupportedMediaType", `unsupported charset "${name.toUpperCase()}"`),
    );
  }
  if (Number(req.headers["content-length"] ?? 0) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    let stream: Readable;
    try {
      stream = decoded(req);
    } catch (error) {
      reject(error);
      return;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    stream.on("data", (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) {
        stream.destroy();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    stream.on("error", () => reject(new BodyError(400, "BadRequest", "the body could not be read")));
    stream.on("end", () => {
      const text = (decoder as TextDecoder).decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
      // An empty body is an empty object, as body-parser had it (then not an AdmissionReview: a 400).
      if (text.trim() === "") return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new BodyError(400, "BadRequest", "the body is not valid JSON"));
      }
    });
  });
}

/** The path without query, lower case and without a trailing slash (express's default matching). */
function pathOf(url: string | undefined): string {
  const path = (url ?? "/").split("?", 1)[0] ?? "/";
  return (path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path).toLowerCase();
}

export function createAdmissionApp(deps: AppDeps): AdmissionListener {
  const clientNames = deps.clientNames ?? [];
  const endpoints = new Map<string, { endpoint: Endpoint; admit: Admit; logger: Logger }>([
    // Once per endpoint, not per request (a child logger serialises its bindings when it is made).
    [
      MUTATE_PATH,
      { endpoint: "mutate", admit: deps.mutate, logger: deps.logger.child({ endpoint: "mutate" }) },
    ],
    [
      VALIDATE_PATH,
      { endpoint: "validate", admit: deps.validate, logger: deps.logger.child({ endpoint: "validate" }) },
    ],
  ]);

  const admission = async (
    req: IncomingMessage,
    res: ServerResponse,
    { endpoint, admit, logger }: { endpoint: Endpoint; admit: Admit; logger: Logger },
  ): Promise<void> => {
    // The clock starts before the body is read, so bodies refused while reading (413, bad JSON, a charset)
    // are timed and counted like every other answer.
    const stopClock = deps.metrics.duration.startTimer({ endpoint });
    /** Counts and times one answer; called once per request, after the answer is sent. */
    const answered = (operation: string, decision: Decision) => {
      deps.metrics.requests.inc({ endpoint, operation, decision });
      stopClock();
    };
    const reject = (code: number, reason: string, message: string, extra: Record<string, unknown> = {}) => {
      deps.metrics.errors.inc({ endpoint, kind: "bad_request" });
      deps.logger.warn({ endpoint, code, reason: message, ...extra }, "rejected an admission request");
      sendStatus(res, code, reason, message);
      answered(UNKNOWN_OPERATION, "rejected");
    };

    // Before the body is read: an unknown client costs nothing more than its handshake.
    if (clientNames.length > 0) {
      const socket = req.socket as Partial<TLSSocket>;
      const name = socket.authorized === true ? socket.getPeerCertificate?.().subject?.CN : undefined;
      if (typeof name !== "string" || !clientNames.includes(name)) {
        deps.metrics.errors.inc({ endpoint, kind: "bad_request" });
        deps.logger.warn(
          { endpoint, clientName: name },
          "refused an admission request from an unknown client",
        );
        sendStatus(res, 403, "Forbidden", "this webhook answers the API server only (see --client-names)");
        answered(UNKNOWN_OPERATION, "rejected");
        return;
      }
    }
    const { type, charset } = contentType(req.headers["content-type"]);
    if (!hasBody(req) || type !== "application/json") {
      reject(415, "UnsupportedMediaType", "the body must be an AdmissionReview sent as application/json");
      return;
    }
    let body: unknown;
    try {
      body = await readJsonBody(req, charset, BODY_LIMIT_BYTES);
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      // Refused while reading: counted, but not logged (a client's mistake, and each may be large).
      deps.metrics.errors.inc({ endpoint, kind: "bad_request" });
      // A body left unread (too large) is not drained: the connection is closed after the answer.
      sendStatus(
        res,
        error.code,
        error.reason,
        error.message,
        error.code === 413 ? { connection: "close" } : {},
      );
      answered(UNKNOWN_OPERATION, "rejected");
      return;
    }
    const parsed = parseAdmissionReview(body);
    if (!parsed.ok) {
      reject(400, "BadRequest", parsed.message);
      return;
    }
    const review = await handleReview(parsed.review, { admit, logger });
    const { response } = review;
    const decision: Decision = !response.allowed ? "denied" : response.patch ? "patched" : "allowed";
    if (response.status?.code === 500) deps.metrics.errors.inc({ endpoint, kind: "internal" });
    sendJson(res, 200, review);
    answered(parsed.review.request.operation, decision);
  };

  return (req, res) => {
    const route = endpoints.get(pathOf(req.url));
    if (route === undefined) {
      sendStatus(res, 404, "NotFound", "no such endpoint");
      return;
    }
    if (req.method !== "POST") {
      sendStatus(res, 405, "MethodNotAllowed", "admission endpoints accept POST only", { allow: "POST" });
      return;
    }
    admission(req, res, route).catch((err: unknown) => {
      // handleReview answers an admission that throws; this is the HTTP surface itself failing.
      deps.metrics.errors.inc({ endpoint: route.endpoint, kind: "internal" });
      deps.logger.error({ err }, "unexpected error serving an admission request");
      if (!res.headersSent) sendStatus(res, 500, "InternalError", "internal error; see the webhook's logs");
      else res.destroy();
    });
  };
}
