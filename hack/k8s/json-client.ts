/**
 * A JSON client for the harness programs of the real control plane (node agent, Service network,
 * provisioner). They handle objects as plain JSON on purpose: client-node's typed models drop the fields
 * they do not know (a Node's `status.declaredFeatures`, for one), and these programs write them.
 * Credentials and TLS come from a client-node KubeConfig; watches use client-node's Watch.
 */
import https from "node:https";
import { Watch, type KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { KubeObject } from "../sandbox/api/types.ts";

export class ApiRequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export type PatchType = "merge" | "strategic" | "json";

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
};

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
}

export class JsonClient {
  private readonly server: string;

  constructor(readonly kubeConfig: KubeConfig) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    this.server = cluster.server;
  }

  /**
   * One HTTPS request with the kubeconfig's credentials; any status code is an answer: the body (parsed when
   * it is JSON) and the Warning headers' values.
   */
  async exchange(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<{ code: number; body: unknown; warnings: string[] }> {
    const options: https.RequestOptions = { method, headers: { Accept: "application/json" } };
    await this.kubeConfig.applyToHTTPSOptions(options);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    // With a length: Node sends no chunked body on DELETE, so without one the API server would see none.
    if (payload)
      options.headers = { ...options.headers, "Content-Type": contentType, "Content-Length": payload.length };
    return new Promise((resolve, reject) => {
      const request = https.request(new URL(path, this.server), options, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const warnings: string[] = [];
          for (let i = 0; i < response.rawHeaders.length; i += 2)
            if (response.rawHeaders[i]?.toLowerCase() === "warning")
              warnings.push(response.rawHeaders[i + 1] ?? "");
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            // not JSON: keep the text
          }
          resolve({ code: response.statusCode ?? 0, body: parsed, warnings });
        });
        response.on("error", reject);
      });
      request.setTimeout(30_000, () => request.destroy(new Error(`${method} ${path}: timed out`)));
      request.on("error", reject);
      request.end(payload);
    });
  }

  /** A request that must succeed (2xx); otherwise an ApiRequestError with the Status message. */
  async request<T = KubeObject>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<T> {
    const answer = await this.exchange(method, path, body, contentType);
    if (answer.code >= 200 && answer.code < 300) return answer.body as T;
    const status = answer.body as { message?: unknown } | string;
    const message = typeof status === "string" ? status : String(status.message ?? JSON.stringify(status));
    throw new ApiRequestError(answer.code, `${method} ${path}: ${answer.code} ${message}`);
  }

  get(path: string): Promise<KubeObject> {
    return this.request("GET", path);
  }

  /** GET that answers undefined for 404. */
  async find(path: string): Promise<KubeObject | undefined> {
    try {
      return await this.get(path);
    } catch (error) {
      if (error instanceof ApiRequestError && error.code === 404) return undefined;
      throw error;
    }
  }

  async list(path: string): Promise<ListResult> {
    const list = await this.request<{ items?: KubeObject[]; metadata?: { resourceVersion?: string } }>(
      "GET",
      path,
    );
    return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  create(path: string, body: unknown): Promise<KubeObject> {
    return this.request("POST", path, body);
  }

  patch(path: string, body: unknown, type: PatchType = "merge"): Promise<KubeObject> {
    return this.request("PATCH", path, body, PATCH_CONTENT_TYPES[type]);
  }

  delete(path: string, body?: unknown): Promise<KubeObject> {
    return this.request("DELETE", path, body);
  }
}

export interface InformerHandlers {
  /** An object was added or changed (also called for every object of a relist). */
  upsert(object: KubeObject): void;
  /** An object was deleted (also for objects missing from a relist). */
  remove(object: KubeObject): void;
}

const keyOf = (object: KubeObject) => `${object.metadata.namespace ?? ""}/${object.metadata.name ?? ""}`;

/**
 * List then watch a collection (`path` with its query, e.g. `/api/v1/pods?fieldSelector=…`), keeping a
 * cache; a watch that ends or fails (410 Gone included) is followed by a relist after a short pause.
 */
export class JsonInformer {
  private readonly cache = new Map<string, KubeObject>();
  private abort: AbortController | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private synced!: Promise<void>;

  constructor(
    private readonly client: JsonClient,
    private readonly path: string,
    private readonly handlers: InformerHandlers,
    private readonly logger: Logger,
  ) {}

  /** Starts; resolves once the first list is in the cache. */
  start(): Promise<void> {
    this.synced = this.run();
    return this.synced;
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.cache.get(`${namespace ?? ""}/${name}`);
  }

  list(): KubeObject[] {
    return [...this.cache.values()];
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort?.abort();
  }

  private async run(): Promise<void> {
    const { items, resourceVersion } = await this.client.list(this.path);
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(keyOf(item));
      this.cache.set(keyOf(item), item);
      this.handlers.upsert(item);
    }
    for (const [key, old] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.handlers.remove(old);
    }
    if (!this.stopped) await this.watch(resourceVersion);
  }

  private async watch(resourceVersion: string): Promise<void> {
    const [pathname, query = ""] = this.path.split("?");
    const params: Record<string, string | boolean> = Object.fromEntries(new URLSearchParams(query));
    params.resourceVersion = resourceVersion;
    params.allowWatchBookmarks = true;
    const again = (why: unknown) => {
      if (this.stopped) return;
      if (why) this.logger.debug({ err: why, path: this.path }, "watch ended; listing again");
      this.timer = setTimeout(() => {
        this.run().catch((error: unknown) => again(error));
      }, 500);
    };
    this.abort = await new Watch(this.client.kubeConfig).watch(
      pathname ?? "",
      params,
      (phase, object: KubeObject) => {
        if (phase === "BOOKMARK" || phase === "ERROR") return;
        if (phase === "DELETED") {
          this.cache.delete(keyOf(object));
          this.handlers.remove(object);
        } else {
          this.cache.set(keyOf(object), object);
          this.handlers.upsert(object);
        }
      },
      (error: unknown) => again(error ?? undefined),
    );
  }
}
