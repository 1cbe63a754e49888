/**
 * The admission HTTP surface (express 5): parse, hand the review to handleReview, send. Every bad input gets
 * a clear 4xx as a Kubernetes Status; nothing a client sends can crash or hang the server.
 */
import type { TLSSocket } from "node:tls";
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from "express";
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

function sendStatus(res: Response, code: number, reason: string, message: string): void {
  res.status(code).json({ apiVersion: "v1", kind: "Status", status: "Failure", code, reason, message });
}

export function createAdmissionApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  // The clock starts before the body is read, so bodies refused while reading (413, bad JSON, a charset) are
  // timed and counted like every other answer.
  const clocks = new WeakMap<Request, () => number>();
  const startClock =
    (endpoint: Endpoint): RequestHandler =>
    (req, _res, next) => {
      clocks.set(req, deps.metrics.duration.startTimer({ endpoint }));
      next();
    };
  /** Counts and times one answer; called once per request, after the answer is sent. */
  const answered = (req: Request, endpoint: Endpoint, operation: string, decision: Decision) => {
    deps.metrics.requests.inc({ endpoint, operation, decision });
    clocks.get(req)?.();
    clocks.delete(req);
  };

  const route = (endpoint: Endpoint, admit: Admit) => {
    // Once per endpoint, not per request (a child logger serialises its bindings when it is made).
    const logger = deps.logger.child({ endpoint });
    return async (req: Request, res: Response) => {
      const reject = (code: number, reason: string, message: string) => {
        deps.metrics.errors.inc({ endpoint, kind: "bad_request" });
        deps.logger.warn({ endpoint, code, reason: message }, "rejected an admission request");
        sendStatus(res, code, reason, message);
        answered(req, endpoint, UNKNOWN_OPERATION, "rejected");
      };
      if (!req.is("application/json")) {
        reject(415, "UnsupportedMediaType", "the body must be an AdmissionReview sent as application/json");
        return;
      }
      const parsed = parseAdmissionReview(req.body);
      if (!parsed.ok) {
        reject(400, "BadRequest", parsed.message);
        return;
      }
      const review = await handleReview(parsed.review, { admit, logger });
      const { response } = review;
      const decision: Decision = !response.allowed ? "denied" : response.patch ? "patched" : "allowed";
      if (response.status?.code === 500) deps.metrics.errors.inc({ endpoint, kind: "internal" });
      res.status(200).json(review);
      answered(req, endpoint, parsed.review.request.operation, decision);
    };
  };

  // Before the body is read: an unknown client costs nothing more than its handshake.
  const clientNames = deps.clientNames ?? [];
  const knownClient =
    (endpoint: Endpoint): RequestHandler =>
    (req, res, next) => {
      if (clientNames.length === 0) return next();
      const socket = req.socket as Partial<TLSSocket>;
      const name = socket.authorized === true ? socket.getPeerCertificate?.().subject?.CN : undefined;
      if (typeof name === "string" && clientNames.includes(name)) return next();
      deps.metrics.errors.inc({ endpoint, kind: "bad_request" });
      deps.logger.warn({ endpoint, clientName: name }, "refused an admission request from an unknown client");
      sendStatus(res, 403, "Forbidden", "this webhook answers the API server only (see --client-names)");
      answered(req, endpoint, UNKNOWN_OPERATION, "rejected");
    };

  const json = express.json({ limit: BODY_LIMIT_BYTES, type: "application/json", strict: false });
  app.post(MUTATE_PATH, startClock("mutate"), knownClient("mutate"), json, route("mutate", deps.mutate));
  app.post(
    VALIDATE_PATH,
    startClock("validate"),
    knownClient("validate"),
    json,
    route("validate", deps.validate),
  );
  app.all([MUTATE_PATH, VALIDATE_PATH], (_req, res) => {
    res.set("Allow", "POST");
    sendStatus(res, 405, "MethodNotAllowed", "admission endpoints accept POST only");
  });
  app.use((_req, res) => sendStatus(res, 404, "NotFound", "no such endpoint"));

  // body-parser's errors carry the HTTP status to answer with (400 bad JSON, 413 too large, 415 charset…).
  const onError: ErrorRequestHandler = (err: unknown, req, res, _next) => {
    const status = typeof err === "object" && err !== null && "status" in err ? Number(err.status) : 500;
    const type = typeof err === "object" && err !== null && "type" in err ? String(err.type) : "";
    const endpoint: Endpoint = req.path === MUTATE_PATH ? "mutate" : "validate";
    const badRequest = status >= 400 && status < 500;
    deps.metrics.errors.inc({ endpoint, kind: badRequest ? "bad_request" : "internal" });
    if (res.headersSent) return;
    if (status === 413) {
      sendStatus(res, 413, "RequestEntityTooLarge", `the body is larger than ${BODY_LIMIT_BYTES} bytes`);
    } else if (type === "entity.parse.failed") {
      sendStatus(res, 400, "BadRequest", "the body is not valid JSON");
    } else if (status === 415) {
      sendStatus(
        res,
        415,
        "UnsupportedMediaType",
        err instanceof Error ? err.message : "unsupported media type",
      );
    } else if (badRequest) {
      sendStatus(res, status, "BadRequest", err instanceof Error ? err.message : "bad request");
    } else {
      deps.logger.error({ err }, "unexpected error serving an admission request");
      sendStatus(res, 500, "InternalError", "internal error; see the webhook's logs");
    }
    // The body was never read into a review, so the operation is unknown.
    answered(req, endpoint, UNKNOWN_OPERATION, "rejected");
  };
  app.use(onError);
  return app;
}
