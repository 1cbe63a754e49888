/**
 * Dynamic admission, as the API server runs it: the installed Mutating/ValidatingWebhookConfigurations
 * decide which webhooks see a request (rules, namespaceSelector, objectSelector); each is called over
 * HTTPS with an AdmissionReview v1, verified against its `caBundle` and the Service's DNS name, within its
 * `timeoutSeconds`; a call that fails obeys `failurePolicy`. Denials and warnings come back the way
 * the real API server reports them.
 */
import { randomUUID } from "node:crypto";
import https from "node:https";
import { applyJsonPatch } from "./patch.ts";
import type { ResourceType } from "./resources.ts";
import { labelSelectorFromObject } from "./selectors.ts";
import { ApiError, badRequest, internalError, isObject, type JsonObject, type KubeObject } from "./types.ts";

export type Operation = "CREATE" | "UPDATE" | "DELETE";

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

export interface AdmissionAttributes {
  type: ResourceType;
  subresource: string;
  operation: Operation;
  namespace: string | undefined;
  name: string;
  object: KubeObject | undefined;
  oldObject: KubeObject | undefined;
  dryRun: boolean;
  user: UserInfo;
  options: JsonObject;
  /** Labels of the request's namespace, for namespaceSelector. */
  namespaceLabels: Record<string, string> | undefined;
}

/** Where the webhook behind a `clientConfig.service` really listens (the sandbox's Service routing). */
export type ServiceResolver = (
  namespace: string,
  name: string,
  port: number,
) => { host: string; port: number } | undefined;

interface WebhookRule {
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  operations?: string[];
  scope?: string;
}

interface Webhook {
  name: string;
  clientConfig?: {
    url?: string;
    service?: { namespace: string; name: string; path?: string; port?: number };
    caBundle?: string;
  };
  rules?: WebhookRule[];
  failurePolicy?: "Fail" | "Ignore";
  sideEffects?: string;
  timeoutSeconds?: number;
  namespaceSelector?: unknown;
  objectSelector?: unknown;
}

const matchesList = (list: string[] | undefined, value: string): boolean =>
  (list ?? []).some((item) => item === "*" || item === value);

function ruleMatches(rule: WebhookRule, attrs: AdmissionAttributes): boolean {
  const { type } = attrs;
  const resource = attrs.subresource ? `${type.resource}/${attrs.subresource}` : type.resource;
  const resourceMatches = (rule.resources ?? []).some((r) => {
    if (r === "*/*" || r === resource) return true;
    if (r === "*") return attrs.subresource === "";
    const [res, sub] = r.split("/");
    return sub !== undefined && (res === "*" ? sub === attrs.subresource : false);
  });
  const scope = rule.scope ?? "*";
  const scopeMatches = scope === "*" || (scope === "Namespaced" ? type.namespaced : !type.namespaced);
  return (
    matchesList(rule.apiGroups, type.group) &&
    matchesList(rule.apiVersions, type.version) &&
    resourceMatches &&
    matchesList(rule.operations, attrs.operation) &&
    scopeMatches
  );
}

function webhookMatches(webhook: Webhook, attrs: AdmissionAttributes): boolean {
  if (!(webhook.rules ?? []).some((rule) => ruleMatches(rule, attrs))) return false;
  // A cluster-scoped object (other than a Namespace) is never excluded by a namespaceSelector.
  const nsLabels =
    attrs.type.resource === "namespaces" && attrs.type.group === ""
      ? (attrs.object ?? attrs.oldObject)?.metadata.labels
      : attrs.namespaceLabels;
  if (attrs.type.namespaced || attrs.type.resource === "namespaces") {
    if (!labelSelectorFromObject(webhook.namespaceSelector)(nsLabels ?? {})) return false;
  }
  const objectSelector = labelSelectorFromObject(webhook.objectSelector);
  const objectLabels = [attrs.object, attrs.oldObject].map((o) => o?.metadata.labels ?? {});
  return objectLabels.some((labels) => objectSelector(labels));
}

interface AdmissionResponse {
  uid?: string;
  allowed?: boolean;
  patch?: string;
  patchType?: string;
  warnings?: string[];
  status?: { code?: number; message?: string; reason?: string; status?: string; details?: unknown };
}

export interface AdmissionOutcome {
  object: KubeObject | undefined;
  warnings: string[];
}

/** A webhook answered, but not with a valid AdmissionReview response for this request. */
class InvalidWebhookResponse extends Error {}

/** The message the API server returns for a denial: `admission webhook "x" denied the request: why`. */
function denial(webhookName: string, status: AdmissionResponse["status"]): ApiError {
  const deniedBy = `admission webhook "${webhookName}" denied the request`;
  const result = status ?? {};
  const code = (result.code ?? 0) < 400 ? 400 : (result.code ?? 400);
  const message = result.message
    ? `${deniedBy}: ${result.message}`
    : result.reason
      ? `${deniedBy}: ${result.reason}`
      : `${deniedBy} without explanation`;
  return ApiError.of(
    code,
    result.reason ?? "",
    message,
    isObject(result.details) ? result.details : undefined,
  );
}

export class Admission {
  constructor(
    private readonly webhookConfigurations: (kind: "mutating" | "validating") => KubeObject[],
    private readonly resolveService: ServiceResolver,
  ) {}

  /** Runs the mutating webhooks in order and returns the patched object. */
  async mutate(attrs: AdmissionAttributes): Promise<AdmissionOutcome> {
    let object = attrs.object;
    const warnings: string[] = [];
    for (const webhook of this.webhooks("mutating", attrs)) {
      const response = await this.call(webhook, { ...attrs, object });
      if (!response) continue;
      warnings.push(...(response.warnings ?? []));
      if (!response.allowed) throw Object.assign(denial(webhook.name, response.status), { warnings });
      if (response.patch && object) {
        const operations: unknown = JSON.parse(Buffer.from(response.patch, "base64").toString("utf8"));
        object = applyJsonPatch(object, operations) as KubeObject;
      }
    }
    return { object, warnings };
  }

  /** Runs the validating webhooks; the first denial wins. */
  async validate(attrs: AdmissionAttributes): Promise<string[]> {
    const warnings: string[] = [];
    for (const webhook of this.webhooks("validating", attrs)) {
      const response = await this.call(webhook, attrs);
      if (!response) continue;
      warnings.push(...(response.warnings ?? []));
      if (!response.allowed) throw Object.assign(denial(webhook.name, response.status), { warnings });
    }
    return warnings;
  }

  private webhooks(kind: "mutating" | "validating", attrs: AdmissionAttributes): Webhook[] {
    const configurations = this.webhookConfigurations(kind).sort((a, b) =>
      (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""),
    );
    const webhooks = configurations.flatMap((c) =>
      Array.isArray(c.webhooks) ? (c.webhooks as Webhook[]) : [],
    );
    return webhooks.filter((w) => webhookMatches(w, attrs));
  }

  /** Calls one webhook; undefined when the call failed and failurePolicy is Ignore. */
  private async call(webhook: Webhook, attrs: AdmissionAttributes): Promise<AdmissionResponse | undefined> {
    if (attrs.dryRun && webhook.sideEffects !== "None" && webhook.sideEffects !== "NoneOnDryRun") {
      throw badRequest(`admission webhook "${webhook.name}" does not support dry run`);
    }
    const timeoutSeconds = webhook.timeoutSeconds ?? 10;
    const target = this.target(webhook, timeoutSeconds);
    const uid = randomUUID();
    try {
      const review = await postJson(target, reviewRequest(uid, attrs), timeoutSeconds * 1000);
      const response =
        isObject(review) && isObject(review.response) ? (review.response as AdmissionResponse) : undefined;
      if (!response) throw new InvalidWebhookResponse("webhook response was absent");
      if (response.uid !== uid) {
        throw new InvalidWebhookResponse(`expected response.uid="${uid}", got "${String(response.uid)}"`);
      }
      if (response.patch && response.patchType !== "JSONPatch") {
        throw new Error(`unsupported patch type "${String(response.patchType)}"`);
      }
      return response;
    } catch (error) {
      if (webhook.failurePolicy === "Ignore") return undefined;
      // Kubernetes words a call that failed and an answer that is not a valid response differently.
      const reason =
        error instanceof InvalidWebhookResponse
          ? `received invalid webhook response: ${error.message}`
          : `failed to call webhook: Post "${target.displayUrl}": ${(error as Error).message}`;
      throw internalError(`failed calling webhook "${webhook.name}": ${reason}`);
    }
  }

  private target(webhook: Webhook, timeoutSeconds: number): CallTarget {
    const config = webhook.clientConfig ?? {};
    const ca = config.caBundle ? Buffer.from(config.caBundle, "base64").toString("utf8") : undefined;
    const query = `timeout=${timeoutSeconds}s`;
    if (config.url) {
      const url = new URL(config.url);
      url.search = url.search ? `${url.search}&${query}` : `?${query}`;
      return {
        host: url.hostname,
        port: Number(url.port || 443),
        servername: url.hostname,
        path: `${url.pathname}${url.search}`,
        ca,
        displayUrl: url.toString(),
      };
    }
    const service = config.service;
    if (!service) throw internalError(`webhook "${webhook.name}" has no clientConfig`);
    const port = service.port ?? 443;
    const path = `${service.path ?? "/"}?${query}`;
    const serverName = `${service.name}.${service.namespace}.svc`;
    const resolved = this.resolveService(service.namespace, service.name, port);
    return {
      host: resolved?.host ?? serverName,
      port: resolved?.port ?? port,
      servername: serverName,
      path,
      ca,
      displayUrl: `https://${serverName}:${port}${path}`,
      unresolved: resolved === undefined,
    };
  }
}

interface CallTarget {
  host: string;
  port: number;
  servername: string;
  path: string;
  ca: string | undefined;
  displayUrl: string;
  unresolved?: boolean;
}

function reviewRequest(uid: string, attrs: AdmissionAttributes): JsonObject {
  const { type } = attrs;
  const kind = { group: type.group, version: type.version, kind: type.kind };
  const resource = { group: type.group, version: type.version, resource: type.resource };
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid,
      kind,
      resource,
      ...(attrs.subresource ? { subResource: attrs.subresource } : {}),
      requestKind: kind,
      requestResource: resource,
      ...(attrs.subresource ? { requestSubResource: attrs.subresource } : {}),
      name: attrs.name,
      ...(attrs.namespace ? { namespace: attrs.namespace } : {}),
      operation: attrs.operation,
      userInfo: attrs.user,
      object: attrs.object ?? null,
      oldObject: attrs.oldObject ?? null,
      dryRun: attrs.dryRun,
      options: attrs.options,
    },
  };
}

function postJson(target: CallTarget, body: unknown, timeoutMs: number): Promise<unknown> {
  if (target.unresolved) {
    return Promise.reject(new Error(`dial tcp: lookup ${target.servername}: no such host`));
  }
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: target.host,
        port: target.port,
        servername: target.servername,
        path: target.path,
        method: "POST",
        ...(target.ca ? { ca: target.ca } : {}),
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          "content-length": payload.length,
        },
        signal: AbortSignal.timeout(timeoutMs),
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((response.statusCode ?? 0) >= 300) {
            reject(
              new Error(`the server responded with status ${response.statusCode}: ${text.slice(0, 200)}`),
            );
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error("received invalid webhook response: not JSON"));
          }
        });
      },
    );
    request.on("error", (error: Error & { code?: string }) => {
      if (error.name === "AbortError" || error.name === "TimeoutError" || error.code === "ABORT_ERR") {
        reject(new Error("context deadline exceeded"));
      } else if (error.code === "ECONNREFUSED") {
        reject(new Error(`dial tcp ${target.host}:${target.port}: connect: connection refused`));
      } else {
        reject(error);
      }
    });
    request.end(payload);
  });
}
