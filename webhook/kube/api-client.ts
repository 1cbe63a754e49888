/**
 * The webhook's Kubernetes API client: JSON over one pooled keep-alive agent, for the two calls it makes (GET a
 * Secret, POST a SubjectAccessReview). Not @kubernetes/client-node: importing that loads every generated API
 * and model, about 67 MiB of RSS for two calls (webhook/README.md, "Kubernetes API").
 */
import { readFileSync } from "node:fs";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { createSecureContext } from "node:tls";
import type { Logger } from "pino";
import { isRecord } from "../../kube-common/is-record.ts";
import { KubeCredentialsError, type KubeCredentials, type Material } from "./credentials.ts";

/**
 * Connections to the API server at most. HTTP/1.1 carries one request per connection at a time, so calls
 * beyond this wait for a free connection (inside their 3 s lookup budget) instead of each opening its own: a
 * burst of admissions costs 16 TLS connections, not one per call in flight (64 concurrent creates made 4 calls
 * each, on an unbounded pool). The API server answers these calls in about a millisecond, so 16 connections
 * carry thousands of calls a second — far more than admission needs; client-go uses one HTTP/2 connection.
 */
export const MAX_SOCKETS = 16;

/** Files (token, CA, client certificate and key) are re-read when older than this: client-go's token period. */
export const REREAD_AFTER_MS = 60_000;

/** An idle connection is closed before the API server's own idle timeout (90 s) can close it under a call. */
const IDLE_SOCKET_MS = 30_000;

const USER_AGENT = "redis-dr-webhook";

/** The API server answered with an HTTP error; `code` is its status (404: no such object, 403: not allowed). */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  readonly code: number;
  /** The Status body's reason and message (never an object's content: an error answer is a Status). */
  readonly reason: string | undefined;
  readonly statusMessage: string | undefined;

  constructor(code: number, request: string, status: unknown) {
    super(`the Kubernetes API answered ${code} to ${request}`);
    this.code = code;
    const body = isRecord(status) && status.kind === "Status" ? status : {};
    this.reason = typeof body.reason === "string" ? body.reason : undefined;
    this.statusMessage = typeof body.message === "string" ? body.message : undefined;
  }
}

/**
 * A pooled keep-alive connection can be closed by the API server just as it is reused; the request never
 * reached the server, so it is sent once more on a fresh connection.
 */
export const isStaleConnection = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ECONNRESET";

export interface KubeApiClient {
  /** The API server's base URL, for the start-up log. */
  readonly server: string;
  /** GET `path`; the parsed JSON answer (unchecked: callers check what they use). */
  get(path: string, signal?: AbortSignal): Promise<unknown>;
  /** POST `body` as JSON to `path`; the parsed JSON answer. */
  post(path: string, body: unknown, signal?: AbortSignal): Promise<unknown>;
  /** Closes the pooled connections (on shutdown). */
  close(): void;
}

export interface KubeApiClientOptions {
  /** Told when a file could not be re-read (the last bytes stay in use). */
  readonly logger?: Logger;
  /** Milliseconds; tests move it to make files due for a re-read. */
  readonly now?: () => number;
}

/**
 * A Material's bytes. A file is read here (a missing or unreadable one fails the start) and re-read when older
 * than REREAD_AFTER_MS; a failed re-read keeps the last bytes, as client-go keeps the last token.
 */
class MaterialSource {
  private bytes: Buffer;
  private readAt: number;

  constructor(
    private readonly material: Material,
    private readonly what: string,
    private readonly options: KubeApiClientOptions,
    private readonly check: (bytes: Buffer) => string | undefined = () => undefined,
  ) {
    this.readAt = this.now();
    if ("data" in material) {
      this.bytes = material.data;
      return;
    }
    try {
      this.bytes = readFileSync(material.file);
    } catch (error) {
      throw new KubeCredentialsError(`cannot read the ${what} ${material.file}: ${(error as Error).message}`);
    }
    const problem = check(this.bytes);
    if (problem !== undefined) throw new KubeCredentialsError(`the ${what} ${material.file} ${problem}`);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  current(): Buffer {
    const material = this.material;
    if ("data" in material || this.now() - this.readAt < REREAD_AFTER_MS) return this.bytes;
    this.readAt = this.now();
    try {
      const bytes = readFileSync(material.file);
      const problem = this.check(bytes);
      if (problem !== undefined) throw new Error(problem);
      // The same Buffer while the bytes are the same: the agent is rebuilt only when they change.
      if (!bytes.equals(this.bytes)) this.bytes = bytes;
    } catch (error) {
      this.options.logger?.warn(
        { file: material.file, reason: (error as Error).message },
        `could not re-read the ${this.what}; still using the last one read`,
      );
    }
    return this.bytes;
  }
}

const tokenText = (bytes: Buffer): string => bytes.toString("utf8").trim();

class JsonApiClient implements KubeApiClient {
  readonly server: string;
  private readonly https: boolean;
  private readonly token: MaterialSource | undefined;
  private readonly tls: { ca?: MaterialSource; cert?: MaterialSource; key?: MaterialSource };
  private agent: { readonly agent: HttpAgent; readonly tls: readonly (Buffer | undefined)[] };
  /** TLS files found not to go together, not tried again until they change. */
  private unusable: readonly (Buffer | undefined)[] | undefined;
  private readonly logger: Logger | undefined;

  constructor(
    private readonly credentials: KubeCredentials,
    options: KubeApiClientOptions,
  ) {
    this.server = credentials.server;
    this.logger = options.logger;
    this.https = credentials.server.startsWith("https:");
    const { token, ca, clientCertificate, clientKey } = credentials;
    this.token =
      token === undefined
        ? undefined
        : new MaterialSource(
            "value" in token ? { data: Buffer.from(token.value) } : token,
            "token file",
            options,
            (bytes) => (tokenText(bytes) === "" ? "is empty" : undefined),
          );
    this.tls = {
      ...(ca !== undefined ? { ca: new MaterialSource(ca, "certificate authority", options) } : {}),
      ...(clientCertificate !== undefined
        ? { cert: new MaterialSource(clientCertificate, "client certificate", options) }
        : {}),
      ...(clientKey !== undefined ? { key: new MaterialSource(clientKey, "client key", options) } : {}),
    };
    this.agent = this.makeAgent(this.tlsBytes());
  }

  private tlsBytes(): (Buffer | undefined)[] {
    return [this.tls.ca?.current(), this.tls.cert?.current(), this.tls.key?.current()];
  }

  private makeAgent(tls: (Buffer | undefined)[]) {
    const pool = {
      keepAlive: true,
      maxSockets: MAX_SOCKETS,
      maxFreeSockets: MAX_SOCKETS,
      timeout: IDLE_SOCKET_MS,
    };
    if (!this.https) return { agent: new HttpAgent(pool), tls };
    const [ca, cert, key] = tls;
    const { insecureSkipTlsVerify, tlsServerName } = this.credentials;
    const agent = new HttpsAgent({
      ...pool,
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
      rejectUnauthorized: !insecureSkipTlsVerify,
      ...(tlsServerName !== undefined ? { servername: tlsServerName } : {}),
    });
    return { agent, tls };
  }

  /**
   * The agent for the current TLS files: a rotated CA or client certificate gets a new one. The old agent's
   * calls in flight finish; its idle connections close after IDLE_SOCKET_MS. Files caught mid-rotation (a new
   * certificate beside the old key) are not used: the old agent stays until the files agree.
   */
  private currentAgent(): HttpAgent {
    const tls = this.tlsBytes();
    const sameAs = (other: readonly (Buffer | undefined)[] | undefined) =>
      other !== undefined && tls.every((bytes, i) => bytes === other[i]);
    if (sameAs(this.agent.tls) || sameAs(this.unusable)) return this.agent.agent;
    const [ca, cert, key] = tls;
    try {
      createSecureContext({ ca, cert, key });
    } catch (error) {
      this.unusable = tls;
      this.logger?.warn(
        { reason: (error as Error).message },
        "the re-read TLS files do not go together (mid-rotation?); still using the last ones",
      );
      return this.agent.agent;
    }
    this.agent = this.makeAgent(tls);
    return this.agent.agent;
  }

  get(path: string, signal?: AbortSignal): Promise<unknown> {
    return this.request("GET", path, undefined, signal);
  }

  post(path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    return this.request("POST", path, Buffer.from(JSON.stringify(body)), signal);
  }

  close(): void {
    this.agent.agent.destroy();
  }

  private async request(
    method: "GET" | "POST",
    path: string,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    try {
      return await this.send(method, path, body, signal);
    } catch (error) {
      if (!isStaleConnection(error) || signal?.aborted) throw error;
      return this.send(method, path, body, signal);
    }
  }

  private send(
    method: "GET" | "POST",
    path: string,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const headers: Record<string, string> = { Accept: "application/json", "User-Agent": USER_AGENT };
    const token = this.token?.current();
    if (token !== undefined) headers.Authorization = `Bearer ${tokenText(token)}`;
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(body.length);
    }
    const request = this.https ? httpsRequest : httpRequest;
    const what = `${method} ${path}`;
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.server}${path}`,
        { method, headers, agent: this.currentAgent(), ...(signal !== undefined ? { signal } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            } catch {
              parsed = undefined;
            }
            if (status < 200 || status > 299) reject(new KubeApiError(status, what, parsed));
            // The body is not quoted: a 2xx answer may be a Secret.
            else if (parsed === undefined)
              reject(new Error(`the Kubernetes API answered ${what} with no JSON`));
            else resolve(parsed);
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }
}

/** A client for `credentials`; reads their files now, so a missing or unreadable one fails the start. */
export function createKubeApiClient(
  credentials: KubeCredentials,
  options: KubeApiClientOptions = {},
): KubeApiClient {
  return new JsonApiClient(credentials, options);
}
