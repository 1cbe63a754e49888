/**
 * The HTTP face of the sandbox API server: discovery (`/api`, `/apis`, group versions), the REST paths of
 * every served type (`/api/v1/namespaces/ns/secrets/name`, `/apis/g/v/...`, `/status`), watch streams
 * (`?watch=1`), Table responses for kubectl, and `Status` errors. HTTPS on loopback.
 */
import { SUBJECT_ACCESS_REVIEW_PATH, answerSubjectAccessReview } from "./access-review.ts";
import type { IncomingMessage, ServerResponse } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import YAML from "yaml";
import type { ApiCore } from "./core.ts";
import { type DeleteOptions, type WriteContext } from "./core.ts";
import type { Duplex } from "node:stream";
import { handleExecUpgrade, type ExecSpawner } from "./exec.ts";
import { applyJsonPatch, mergePatch, patchTypeOf } from "./patch.ts";
import { decodeProtobufObject } from "./protobuf.ts";
import { apiVersionOf, storageKey, type ResourceType } from "./resources.ts";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import type { Change } from "./store.ts";
import { toTable } from "./table.ts";
import {
  ApiError,
  badRequest,
  conflict,
  internalError,
  isObject,
  OBJECT_MODIFIED,
  type JsonObject,
  type KubeObject,
} from "./types.ts";

const MAX_BODY = 3 * 1024 * 1024;

interface Route {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string;
}

export interface ApiServerOptions {
  host?: string;
  port?: number;
  /** PEM serving certificate and key (HTTPS, like a real API server; client-node refuses plain HTTP). */
  cert: string;
  key: string;
  logger: Logger;
  /** Starts a command in a pod's container (for `kubectl exec`), from the kubelet. */
  podExec?: ExecSpawner;
  /** The log file of a pod's container (for `kubectl logs`), from the kubelet. */
  podLogFile?: (namespace: string, name: string, container: string | undefined) => string | undefined;
}

interface RequestFault {
  matches: (method: string, path: string) => boolean;
  remaining: number;
  code: 409 | 500 | 503 | 504;
  answered: number;
  done: () => void;
}

export class ApiServer {
  private server: https.Server | undefined;
  private readonly watches = new Set<ServerResponse>();
  private failingWatches: { remaining: number; code: number } = { remaining: 0, code: 500 };
  private readonly requestListeners = new Set<(req: IncomingMessage) => void>();
  private readonly requestFaults: RequestFault[] = [];
  private paused: { promise: Promise<void>; resume: () => void } | undefined;
  private watchDelayMs = 0;

  constructor(
    readonly core: ApiCore,
    private readonly options: ApiServerOptions,
  ) {}

  /** Listens on loopback and returns the base URL (`http://127.0.0.1:PORT`). */
  async start(): Promise<string> {
    const server = https.createServer(
      { cert: this.options.cert, key: this.options.key },
      (req, res) => void this.handle(req, res),
    );
    server.keepAliveTimeout = 5_000;
    server.on("upgrade", (req: IncomingMessage, socket: Duplex) => {
      const exec = this.options.podExec;
      if (!exec || !handleExecUpgrade(req, socket, exec)) socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port ?? 0, this.options.host ?? "127.0.0.1", () => resolve());
    });
    const address = server.address() as AddressInfo;
    return `https://${address.address}:${address.port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.watches) res.destroy();
    this.watches.clear();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    this.server = undefined;
  }

  /** Test hook: cuts every open watch connection (clients see their stream end abruptly). */
  breakWatches(): void {
    for (const res of this.watches) res.destroy();
    this.watches.clear();
  }

  /** Test hook: the next `count` watch requests fail with HTTP `code` (e.g. 500) before streaming. */
  failNextWatches(count: number, code = 500): void {
    this.failingWatches = { remaining: count, code };
  }

  /**
   * Test hook: the next `count` requests that `matches` (method, path) are answered with HTTP `code` and the
   * Status body the real API server sends for it (409 Conflict "the object has been modified", 500
   * InternalError, 503 ServiceUnavailable, 504 Timeout), without being applied. Resolves when all `count`
   * have been answered.
   */
  failNextRequests(
    matches: (method: string, path: string) => boolean,
    count: number,
    code: 409 | 500 | 503 | 504,
  ): { answered: () => number; done: Promise<void> } {
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const fault: RequestFault = { matches, remaining: count, code, answered: 0, done: resolveDone };
    if (count > 0) this.requestFaults.push(fault);
    else resolveDone();
    return { answered: () => fault.answered, done };
  }

  /**
   * Test hook: the API server stops answering (like a SIGSTOPped kube-apiserver): requests already read and
   * new ones wait, open watches deliver nothing, until resume(). Connections stay open.
   */
  pause(): void {
    if (this.paused) return;
    let resume: () => void = () => undefined;
    const promise = new Promise<void>((resolve) => (resume = resolve));
    this.paused = { promise, resume };
  }

  resume(): void {
    const paused = this.paused;
    this.paused = undefined;
    paused?.resume();
  }

  /**
   * Test hook: every watch event is sent `ms` after it happened (in order), while requests are answered at
   * once — an informer whose cache lags behind the API server. 0 ends the delay (events already held keep
   * theirs).
   */
  delayWatchEvents(ms: number): void {
    this.watchDelayMs = ms;
  }

  /** Benchmark hook: `listener` sees every request as it arrives (counting API calls); returns unsubscribe. */
  onRequest(listener: (req: IncomingMessage) => void): () => void {
    this.requestListeners.add(listener);
    return () => this.requestListeners.delete(listener);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const listener of this.requestListeners) listener(req);
    const url = new URL(req.url ?? "/", "http://sandbox");
    while (this.paused) await this.paused.promise;
    try {
      this.injectedFault(req.method ?? "GET", url.pathname);
      await this.route(req, res, url);
    } catch (error) {
      const apiError = error instanceof ApiError ? error : internalError((error as Error).message);
      if (!(error instanceof ApiError))
        this.options.logger.error({ err: error, url: url.pathname }, "request failed");
      const warnings = (error as { warnings?: string[] }).warnings;
      if (!res.headersSent) this.send(res, apiError.code, apiError.status, warnings);
      else res.end();
    }
  }

  /** Throws the Status of the first matching fault of failNextRequests, if any. */
  private injectedFault(method: string, path: string): void {
    const fault = this.requestFaults.find((f) => f.remaining > 0 && f.matches(method, path));
    if (!fault) return;
    fault.remaining--;
    fault.answered++;
    if (fault.remaining === 0) {
      this.requestFaults.splice(this.requestFaults.indexOf(fault), 1);
      fault.done();
    }
    const segments = path.split("/").filter(Boolean);
    // /apis/<group>/<version>/namespaces/<ns>/<resource>/<name>[/status] or /api/v1/namespaces/<ns>/<resource>/<name>
    const core = segments[0] === "api";
    const group = core ? "" : (segments[1] ?? "");
    const resource = segments[core ? 4 : 5] ?? "";
    const name = segments[core ? 5 : 6] ?? "";
    switch (fault.code) {
      case 409:
        throw conflict(resource, group, name, OBJECT_MODIFIED);
      case 500:
        throw ApiError.of(500, "InternalError", "Internal error occurred: injected fault");
      case 503:
        throw ApiError.of(503, "ServiceUnavailable", "the server is currently unable to handle the request");
      case 504:
        throw ApiError.of(
          504,
          "Timeout",
          "Timeout: request did not complete within requested timeout - context deadline exceeded",
        );
    }
  }

  private send(res: ServerResponse, code: number, body: unknown, warnings?: readonly string[]): void {
    const payload = JSON.stringify(body);
    if (warnings && warnings.length > 0) {
      res.setHeader(
        "Warning",
        warnings.map((w) => `299 - ${JSON.stringify(w.replace(/[\r\n]+/g, " "))}`),
      );
    }
    res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
    res.end(payload);
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const method = req.method ?? "GET";
    if (["/healthz", "/readyz", "/livez"].includes(path)) {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
      return;
    }
    if (path === "/version")
      return this.send(res, 200, {
        major: "1",
        minor: "32",
        gitVersion: "v1.32.0-sandbox",
        gitCommit: "",
        gitTreeState: "clean",
        buildDate: "2026-01-01T00:00:00Z",
        goVersion: "go1.23",
        compiler: "gc",
        platform: "linux/amd64",
      });
    if (path === "/api")
      return this.send(res, 200, {
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: req.headers.host ?? "" }],
      });
    if (path === "/apis") return this.send(res, 200, this.groupList());
    if (path === SUBJECT_ACCESS_REVIEW_PATH && method === "POST")
      return this.send(res, 201, answerSubjectAccessReview(await readJson(req)));
    if (path === "/openapi/v3") return this.send(res, 200, this.openApiRoot());
    if (path === "/openapi/v2") {
      // An empty OpenAPI v2 document (an empty protobuf message): kubectl's client-side validation then
      // knows no schema and leaves unknown kinds to the "no matches for kind" error, as on a real cluster.
      res.writeHead(200, {
        "content-type": "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
        "content-length": 0,
      });
      res.end();
      return;
    }
    if (path.startsWith("/openapi/v3/"))
      return this.send(res, 200, this.openApiGroupVersion(path.slice("/openapi/v3/".length)));
    const segments = path
      .split("/")
      .filter((s) => s !== "")
      .map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (segments[0] === "api" && segments.length >= 2) {
      group = "";
      version = segments[1] ?? "";
      rest = segments.slice(2);
    } else if (segments[0] === "apis" && segments.length >= 2) {
      group = segments[1] ?? "";
      if (segments.length === 2) return this.send(res, 200, this.groupInfo(group));
      version = segments[2] ?? "";
      rest = segments.slice(3);
    } else {
      throw ApiError.of(404, "NotFound", "the server could not find the requested resource", {});
    }
    if (rest.length === 0) return this.send(res, 200, this.resourceList(group, version));
    const route = this.parseRoute(group, version, rest);
    await this.serve(req, res, url, method, route);
  }

  private parseRoute(group: string, version: string, rest: string[]): Route {
    let namespace: string | undefined;
    let parts = rest;
    if (rest[0] === "namespaces" && rest.length >= 3) {
      namespace = rest[1];
      parts = rest.slice(2);
    }
    const [resource, name, subresource, ...extra] = parts;
    if (!resource || extra.length > 0)
      throw ApiError.of(404, "NotFound", "the server could not find the requested resource", {});
    const type = this.core.type(group, version, resource);
    if (namespace !== undefined && !type.namespaced)
      throw ApiError.of(404, "NotFound", "the server could not find the requested resource", {});
    return { type, namespace, name, subresource: subresource ?? "" };
  }

  private async serve(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    method: string,
    route: Route,
  ): Promise<void> {
    const { type, namespace, name, subresource } = route;
    const q = url.searchParams;
    const warnings: string[] = [];
    const ctx: WriteContext = {
      dryRun: q.getAll("dryRun").includes("All"),
      warnings,
      ...(q.get("fieldManager") ? { fieldManager: q.get("fieldManager") ?? "" } : {}),
      fieldValidation:
        (["Strict", "Warn", "Ignore"] as const).find((v) => v === q.get("fieldValidation")) ?? "Warn",
    };
    const wantsTable = (req.headers.accept ?? "").includes("as=Table");
    if (type.namespaced && name !== undefined && namespace === undefined) {
      throw ApiError.of(404, "NotFound", "the server could not find the requested resource", {});
    }
    switch (method) {
      case "GET": {
        if (name === undefined) {
          if (q.get("watch") === "1" || q.get("watch") === "true") return this.watch(req, res, route, url);
          const list = this.core.list(type, namespace, {
            labelSelector: q.get("labelSelector"),
            fieldSelector: q.get("fieldSelector"),
          });
          if (wantsTable)
            return this.send(
              res,
              200,
              toTable(type, list.items, list.resourceVersion, q.get("includeObject")),
            );
          return this.send(res, 200, {
            kind: `${type.kind}List`,
            apiVersion: apiVersionOf(type),
            metadata: { resourceVersion: list.resourceVersion },
            items: list.items,
          });
        }
        const object = this.core.get(type, namespace, name);
        if (subresource === "scale" && hasScale(type)) return this.send(res, 200, toScale(object));
        if (subresource === "log" && type.resource === "pods" && type.group === "") {
          return this.sendLog(res, namespace ?? "", name, q);
        }
        if (subresource !== "" && subresource !== "status")
          throw ApiError.of(404, "NotFound", "the server could not find the requested resource", {});
        if (wantsTable)
          return this.send(
            res,
            200,
            toTable(type, [object], object.metadata.resourceVersion ?? "", q.get("includeObject")),
          );
        return this.send(res, 200, object);
      }
      case "POST": {
        if (name !== undefined) throw this.core.unsupported(type, "create");
        const created = await this.core.create(type, namespace, await readJson(req), ctx);
        return this.send(res, 201, created, warnings);
      }
      case "PUT": {
        if (name === undefined) throw this.core.unsupported(type, "update");
        if (subresource === "scale" && hasScale(type)) {
          const scale = await readJson(req);
          const replicas = isObject(scale) && isObject(scale.spec) ? scale.spec.replicas : undefined;
          const rv = isObject(scale) && isObject(scale.metadata) ? scale.metadata.resourceVersion : undefined;
          const scaled = await this.core.patch(
            type,
            namespace,
            name,
            "merge",
            { metadata: rv ? { resourceVersion: rv } : {}, spec: { replicas } },
            ctx,
          );
          return this.send(res, 200, toScale(scaled), warnings);
        }
        const updated = await this.core.update(type, namespace, name, await readJson(req), ctx, subresource);
        return this.send(res, 200, updated, warnings);
      }
      case "PATCH": {
        if (name === undefined) throw this.core.unsupported(type, "patch");
        const patchType = patchTypeOf(req.headers["content-type"]);
        const body =
          patchType === "apply" ? (YAML.parse(await readText(req)) as unknown) : await readJson(req);
        if (subresource === "scale" && hasScale(type)) {
          // The patch applies to the Scale; its spec.replicas goes to the object.
          const current = toScale(this.core.get(type, namespace, name));
          const next = patchType === "json" ? applyJsonPatch(current, body) : mergePatch(current, body);
          const replicas = isObject(next) && isObject(next.spec) ? next.spec.replicas : undefined;
          const scaled = await this.core.patch(type, namespace, name, "merge", { spec: { replicas } }, ctx);
          return this.send(res, 200, toScale(scaled), warnings);
        }
        const patched = await this.core.patch(type, namespace, name, patchType, body, ctx, subresource);
        return this.send(res, 200, patched, warnings);
      }
      case "DELETE": {
        const text = await readText(req);
        const body: unknown = text.trim() === "" ? {} : JSON.parse(text);
        const options: DeleteOptions = isObject(body) ? (body as DeleteOptions) : {};
        const policy = q.get("propagationPolicy");
        if (policy) options.propagationPolicy = policy as DeleteOptions["propagationPolicy"];
        const grace = q.get("gracePeriodSeconds");
        if (grace !== null) options.gracePeriodSeconds = Number(grace);
        if (name === undefined) {
          const list = this.core.list(type, namespace, {
            labelSelector: q.get("labelSelector"),
            fieldSelector: q.get("fieldSelector"),
          });
          for (const item of list.items)
            await this.core.delete(type, item.metadata.namespace, item.metadata.name ?? "", options, ctx);
          return this.send(
            res,
            200,
            { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata: {}, items: list.items },
            warnings,
          );
        }
        const deleted = await this.core.delete(type, namespace, name, options, ctx);
        if (deleted.metadata.deletionTimestamp && this.core.tryGet(type, namespace, name)) {
          return this.send(res, 200, deleted, warnings);
        }
        return this.send(
          res,
          200,
          {
            kind: "Status",
            apiVersion: "v1",
            metadata: {},
            status: "Success",
            details: { name, group: type.group, kind: type.resource, uid: deleted.metadata.uid },
          },
          warnings,
        );
      }
      default:
        throw ApiError.of(
          405,
          "MethodNotAllowed",
          `the server does not allow this method on the requested resource`,
        );
    }
  }

  private sendLog(res: ServerResponse, namespace: string, name: string, q: URLSearchParams): void {
    const file = this.options.podLogFile?.(namespace, name, q.get("container") ?? undefined);
    if (!file || !existsSync(file)) {
      throw ApiError.of(400, "BadRequest", `container is not running in pod "${name}"`);
    }
    let lines = readFileSync(file, "utf8").split("\n");
    if (lines.at(-1) === "") lines.pop();
    const tail = q.get("tailLines");
    if (tail !== null) lines = lines.slice(-Number(tail));
    const text = lines.length > 0 ? `${lines.join("\n")}\n` : "";
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  private watch(req: IncomingMessage, res: ServerResponse, route: Route, url: URL): void {
    const q = url.searchParams;
    if (this.failingWatches.remaining > 0) {
      this.failingWatches.remaining--;
      throw ApiError.of(
        this.failingWatches.code,
        "InternalError",
        "Internal error occurred: injected watch failure",
      );
    }
    const { type, namespace } = route;
    const labels = parseLabelSelector(q.get("labelSelector"));
    const fields = parseFieldSelector(q.get("fieldSelector"));
    const key = storageKey(type);
    const matches = (o: KubeObject | undefined) =>
      o !== undefined &&
      (!type.namespaced || !namespace || o.metadata.namespace === namespace) &&
      labels(o.metadata.labels ?? {}) &&
      fields(o);
    // kubectl get -w asks for Tables: each event then carries a one-row Table.
    const wantsTable = (req.headers.accept ?? "").includes("as=Table");
    const withType = (o: KubeObject): unknown =>
      wantsTable
        ? toTable(type, [o], o.metadata.resourceVersion ?? "", q.get("includeObject"))
        : { ...o, apiVersion: apiVersionOf(type), kind: type.kind };

    res.writeHead(200, {
      "content-type": "application/json",
      "transfer-encoding": "chunked",
      "cache-control": "no-cache",
    });
    res.flushHeaders();
    this.watches.add(res);
    // Events in order; while the server is paused they wait (a stopped API server sends nothing).
    let queue = Promise.resolve();
    let held = 0; // events waiting in `queue`: later ones go behind them, so the order is kept
    const write = (eventType: string, object: unknown) => {
      const line = `${JSON.stringify({ type: eventType, object })}\n`;
      const send = () => {
        if (!res.writableEnded) res.write(line);
      };
      const delay = this.watchDelayMs;
      if (!this.paused && delay === 0 && held === 0) {
        send();
        return;
      }
      const dueAt = Date.now() + delay;
      held++;
      queue = queue.then(async () => {
        const wait = dueAt - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        while (this.paused) await this.paused.promise;
        held--;
        send();
      });
    };
    const onChange = (change: Change) => {
      if (change.key !== key) return;
      const now = matches(change.object);
      const before = matches(change.previous);
      if (change.type === "ADDED" && now) write("ADDED", withType(change.object));
      else if (change.type === "DELETED" && before) write("DELETED", withType(change.object));
      else if (change.type === "MODIFIED") {
        if (now && before) write("MODIFIED", withType(change.object));
        else if (now) write("ADDED", withType(change.object));
        else if (before) write("DELETED", withType(change.object));
      }
    };
    const rv = q.get("resourceVersion");
    let unsubscribe: () => void = () => undefined;
    try {
      if (!rv || rv === "0") {
        const list = this.core.list(type, namespace, {
          labelSelector: q.get("labelSelector"),
          fieldSelector: q.get("fieldSelector"),
        });
        for (const item of list.items) write("ADDED", withType(item));
        unsubscribe = this.core.store.subscribe(Number(list.resourceVersion), onChange);
      } else {
        if (!/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${rv}`);
        unsubscribe = this.core.store.subscribe(Number(rv), onChange);
      }
    } catch (error) {
      // Like the API server: a too-old resourceVersion is an ERROR event on a 200 stream, then the end.
      if (error instanceof ApiError) write("ERROR", error.status);
      this.watches.delete(res);
      res.end();
      return;
    }
    const timeout = Number(q.get("timeoutSeconds") ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    const cleanup = () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      this.watches.delete(res);
    };
    res.on("close", cleanup);
    req.on("close", cleanup);
  }

  // ---------------------------------------------------------------- discovery

  /**
   * A minimal OpenAPI v3: one PATCH operation per kind, declaring the `fieldValidation` parameter, which is
   * what kubectl looks for to send `fieldValidation=Strict` instead of validating on the client. No schemas:
   * kubectl then builds its patches from its built-in types (strategic merge) or as JSON merge patches.
   */
  private openApiRoot(): JsonObject {
    const paths: JsonObject = {};
    for (const [group, versions] of this.core.registry.groupVersions()) {
      for (const version of versions) {
        const key = group === "" ? `api/${version}` : `apis/${group}/${version}`;
        paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${this.core.store.currentRv()}` };
      }
    }
    return { paths };
  }

  private openApiGroupVersion(gvPath: string): JsonObject {
    const [prefix, ...rest] = gvPath.split("/");
    const group = prefix === "api" ? "" : (rest[0] ?? "");
    const version = prefix === "api" ? (rest[0] ?? "") : (rest[1] ?? "");
    const paths: JsonObject = {};
    const types = this.core.registry.all().filter((t) => t.group === group && t.version === version);
    if (types.length === 0)
      throw ApiError.of(404, "NotFound", "the server could not find the requested resource", {});
    for (const t of types) {
      const base = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
      const path = t.namespaced
        ? `${base}/namespaces/{namespace}/${t.resource}/{name}`
        : `${base}/${t.resource}/{name}`;
      paths[path] = {
        patch: {
          operationId: `patch${t.kind}`,
          "x-kubernetes-group-version-kind": { group, version, kind: t.kind },
          "x-kubernetes-action": "patch",
          parameters: [
            { name: "dryRun", in: "query", schema: { type: "string" } },
            { name: "fieldManager", in: "query", schema: { type: "string" } },
            { name: "fieldValidation", in: "query", schema: { type: "string" } },
          ],
          responses: { "200": { description: "OK" } },
        },
      };
    }
    return {
      openapi: "3.0.0",
      info: { title: "Kubernetes", version: "v1.32.0" },
      paths,
      components: { schemas: {} },
    };
  }

  private groupList(): JsonObject {
    const groups = [...this.core.registry.groupVersions()]
      .filter(([group]) => group !== "")
      .map(([name, versions]) => ({
        name,
        versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
        preferredVersion: { groupVersion: `${name}/${versions[0] ?? ""}`, version: versions[0] ?? "" },
      }));
    return { kind: "APIGroupList", apiVersion: "v1", groups };
  }

  private groupInfo(group: string): JsonObject {
    const versions = this.core.registry.groupVersions().get(group);
    if (!versions) throw ApiError.of(404, "NotFound", "the server could not find the requested resource", {});
    return {
      kind: "APIGroup",
      apiVersion: "v1",
      name: group,
      versions: versions.map((version) => ({ groupVersion: `${group}/${version}`, version })),
      preferredVersion: { groupVersion: `${group}/${versions[0] ?? ""}`, version: versions[0] ?? "" },
    };
  }

  private resourceList(group: string, version: string): JsonObject {
    const types = this.core.registry.all().filter((t) => t.group === group && t.version === version);
    if (types.length === 0)
      throw ApiError.of(404, "NotFound", "the server could not find the requested resource", {});
    const verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
    const resources = types.flatMap((t) => {
      const main = {
        name: t.resource,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs,
        ...(t.shortNames.length > 0 ? { shortNames: t.shortNames } : {}),
        ...(t.categories.length > 0 ? { categories: t.categories } : {}),
      };
      const status = {
        name: `${t.resource}/status`,
        singularName: "",
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ["get", "patch", "update"],
      };
      const scale = {
        name: `${t.resource}/scale`,
        singularName: "",
        namespaced: t.namespaced,
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
        verbs: ["get", "patch", "update"],
      };
      return [main, ...(t.statusSubresource ? [status] : []), ...(hasScale(t) ? [scale] : [])];
    });
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: group === "" ? version : `${group}/${version}`,
      resources,
    };
  }
}

/** StatefulSets and Deployments have the scale subresource (autoscaling/v1 Scale). */
const hasScale = (type: ResourceType): boolean =>
  type.group === "apps" && (type.resource === "statefulsets" || type.resource === "deployments");

function toScale(object: KubeObject): JsonObject {
  const spec = (object.spec ?? {}) as JsonObject;
  const status = (object.status ?? {}) as JsonObject;
  const selector =
    isObject(spec.selector) && isObject(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name: object.metadata.name,
      namespace: object.metadata.namespace,
      uid: object.metadata.uid,
      resourceVersion: object.metadata.resourceVersion,
      creationTimestamp: object.metadata.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 1 },
    status: {
      replicas: status.replicas ?? 0,
      selector: Object.entries(selector)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(","),
    },
  };
}

async function readText(req: IncomingMessage): Promise<string> {
  return (await readBuffer(req)).toString("utf8");
}

function readBuffer(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(ApiError.of(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const contentType = req.headers["content-type"] ?? "";
  if (contentType.includes("protobuf")) return decodeProtobufObject(await readBuffer(req));
  const text = await readText(req);
  try {
    if (contentType.includes("yaml")) return YAML.parse(text) as unknown;
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw badRequest(`the body of the request could not be decoded: ${(error as Error).message}`);
  }
}
