/**
 * The API server's REST semantics, independent of HTTP: what create, update, patch and delete do to an
 * object (uid, creationTimestamp, resourceVersion and 409 Conflict, generation, the status subresource,
 * Secret `stringData`, finalizers and deletionTimestamp, owner-reference garbage collection, namespace
 * deletion, CRD registration) and the admission chain around each write. The HTTP server and the
 * in-process controllers (StatefulSet controller, kubelet) both write through this class.
 */
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { Admission, type Operation, type ServiceResolver, type UserInfo } from "./admission.ts";
import { normalizeCustomResource, validateCustomResource } from "./crd-schema.ts";
import { invalid, required, type FieldError } from "./field-errors.ts";
import { microTimeError } from "./micro-time.ts";
import { applyJsonPatch, mergePatch, strategicMergePatch, type PatchType } from "./patch.ts";
import {
  apiVersionOf,
  ResourceRegistry,
  storageKey,
  typesOfCrd,
  type CrdSpec,
  type ResourceType,
} from "./resources.ts";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import { Store } from "./store.ts";
import {
  alreadyExists,
  ApiError,
  badRequest,
  clone,
  conflict,
  invalidObject,
  isObject,
  methodNotSupported,
  notFound,
  OBJECT_MODIFIED,
  type JsonObject,
  type KubeObject,
} from "./types.ts";

export interface WriteContext {
  dryRun?: boolean;
  user?: UserInfo;
  fieldManager?: string;
  /** Warnings collected for the `Warning` response headers. */
  warnings?: string[];
  /** What to do with fields the schema does not know: fail, warn (the default), or drop silently. */
  fieldValidation?: "Strict" | "Warn" | "Ignore";
}

export interface DeleteOptions {
  propagationPolicy?: "Orphan" | "Background" | "Foreground";
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface ListOptions {
  labelSelector?: string | null;
  fieldSelector?: string | null;
}

/** Extra behaviour other sandbox parts attach to a type (Service IP allocation, pod graceful deletion). */
export interface TypeHooks {
  /** Called on create (after defaulting, before admission), may fill server-assigned fields. */
  prepareCreate?: (object: KubeObject) => void;
  /** Called on updates through the main endpoint (before admission), may keep or fill server-assigned fields. */
  prepareUpdate?: (object: KubeObject, old: KubeObject) => void;
  /** Whether a delete should only mark the object (deletionTimestamp) for a controller to finish. */
  gracefulDelete?: (object: KubeObject, options: DeleteOptions) => boolean;
  /** Called when a create fails or is a dry run: undo what prepareCreate allocated. */
  abortCreate?: (object: KubeObject) => void;
  /** Called once an object is gone from storage. */
  afterDelete?: (object: KubeObject) => void;
}

export const ADMIN_USER: UserInfo = {
  username: "kubernetes-admin",
  groups: ["system:masters", "system:authenticated"],
};

const withoutStatus = (object: KubeObject): JsonObject => {
  const rest: JsonObject = { ...object };
  delete rest.metadata;
  delete rest.status;
  return rest;
};

const withoutMetadata = (object: KubeObject): JsonObject => {
  const rest: JsonObject = { ...object };
  delete rest.metadata;
  return rest;
};

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export class ApiCore {
  readonly store = new Store();
  readonly registry = new ResourceRegistry();
  readonly admission: Admission;
  private readonly hooks = new Map<string, TypeHooks>();
  private readonly now: () => Date;

  constructor(resolveService: ServiceResolver, now: () => Date = () => new Date()) {
    this.now = now;
    this.admission = new Admission(
      (kind) =>
        this.store.list(
          kind === "mutating"
            ? "admissionregistration.k8s.io/mutatingwebhookconfigurations"
            : "admissionregistration.k8s.io/validatingwebhookconfigurations",
        ),
      resolveService,
    );
    for (const name of ["default", "kube-system", "kube-public", "kube-node-lease"]) {
      this.store.put("/namespaces", this.newNamespace(name));
    }
  }

  addHooks(group: string, resource: string, hooks: TypeHooks): void {
    this.hooks.set(`${group}/${resource}`, { ...this.hooks.get(`${group}/${resource}`), ...hooks });
  }

  private hooksOf(type: ResourceType): TypeHooks {
    return this.hooks.get(storageKey(type)) ?? {};
  }

  private newNamespace(name: string): KubeObject {
    return {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name,
        uid: randomUUID(),
        creationTimestamp: this.timestamp(),
        labels: { "kubernetes.io/metadata.name": name },
      },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    };
  }

  private timestamp(): string {
    return this.now()
      .toISOString()
      .replace(/\.\d+Z$/, "Z");
  }

  /** Looks a type up by group/version/resource (404 like the real server when it is not served). */
  type(group: string, version: string, resource: string): ResourceType {
    const type = this.registry.find(group, version, resource);
    if (!type) {
      throw ApiError.of(404, "NotFound", "the server could not find the requested resource", {});
    }
    return type;
  }

  /** Looks a type up by apiVersion and kind, for callers that hold objects. */
  typeOf(apiVersion: string, kind: string): ResourceType {
    const type = this.registry.byKind(apiVersion, kind);
    if (!type) throw badRequest(`no matches for kind "${kind}" in version "${apiVersion}"`);
    return type;
  }

  private withTypeMeta(type: ResourceType, object: KubeObject): KubeObject {
    return { apiVersion: apiVersionOf(type), kind: type.kind, ...object };
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const object = this.store.get(storageKey(type), type.namespaced ? namespace : undefined, name);
    if (!object) throw notFound(type.resource, type.group, name);
    return this.withTypeMeta(type, object);
  }

  tryGet(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const object = this.store.get(storageKey(type), type.namespaced ? namespace : undefined, name);
    return object ? this.withTypeMeta(type, object) : undefined;
  }

  list(
    type: ResourceType,
    namespace: string | undefined,
    options: ListOptions = {},
  ): { items: KubeObject[]; resourceVersion: string } {
    const labels = parseLabelSelector(options.labelSelector);
    const fields = parseFieldSelector(options.fieldSelector);
    const items = this.store
      .list(storageKey(type), type.namespaced ? namespace : undefined)
      .filter((o) => labels(o.metadata.labels ?? {}) && fields(o))
      .map((o) => this.withTypeMeta(type, o));
    return { items, resourceVersion: this.store.currentRv() };
  }

  private namespaceLabels(
    type: ResourceType,
    namespace: string | undefined,
  ): Record<string, string> | undefined {
    if (!type.namespaced || !namespace) return undefined;
    return this.store.get("/namespaces", undefined, namespace)?.metadata.labels ?? {};
  }

  private requireNamespace(type: ResourceType, namespace: string | undefined): void {
    if (!type.namespaced) return;
    if (!namespace) throw badRequest("the namespace of the object is required");
    const ns = this.store.get("/namespaces", undefined, namespace);
    if (!ns) throw notFound("namespaces", "", namespace);
    if (ns.metadata.deletionTimestamp) {
      throw ApiError.of(
        403,
        "Forbidden",
        `${type.resource} "" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  // ---------------------------------------------------------------- create

  async create(
    type: ResourceType,
    namespace: string | undefined,
    body: unknown,
    ctx: WriteContext = {},
  ): Promise<KubeObject> {
    if (!isObject(body)) throw badRequest("the request body must be a JSON object");
    const object = clone(body) as KubeObject;
    if (!isObject(object.metadata)) object.metadata = {};
    const meta = object.metadata;
    if (type.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      }
      meta.namespace = namespace ?? meta.namespace;
    } else {
      delete meta.namespace;
    }
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    if (object.apiVersion !== undefined && object.apiVersion !== apiVersionOf(type)) {
      throw badRequest(
        `the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${apiVersionOf(type)})`,
      );
    }
    if (object.kind !== undefined && object.kind !== type.kind) {
      throw badRequest(
        `the kind in the data (${String(object.kind)}) does not match the expected kind (${type.kind})`,
      );
    }
    this.requireNamespace(type, meta.namespace);
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    meta.uid = randomUUID();
    meta.creationTimestamp = this.timestamp();
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.managedFields;
    if (type.tracksGeneration) meta.generation = 1;
    else delete meta.generation;
    if (type.statusSubresource) delete object.status;
    this.prepareBuiltin(type, object, undefined, ctx);
    // Refused with every other error of the object, as the strategy's validation reports them.
    if (!meta.name)
      throw invalidObject(type.kind, type.group, "", this.validationErrors(type, object, undefined));
    this.hooksOf(type).prepareCreate?.(object);

    let result: KubeObject;
    try {
      result = await this.admit(type, "CREATE", object, undefined, ctx);
      if (this.store.get(storageKey(type), meta.namespace, meta.name)) {
        throw alreadyExists(type.resource, type.group, meta.name);
      }
    } catch (error) {
      this.hooksOf(type).abortCreate?.(object);
      throw error;
    }
    if (ctx.dryRun) {
      this.hooksOf(type).abortCreate?.(object);
      return result;
    }
    const stored = this.withTypeMeta(type, this.store.put(storageKey(type), result));
    this.afterWrite(type, stored);
    return stored;
  }

  // ---------------------------------------------------------------- update / patch

  async update(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    ctx: WriteContext = {},
    subresource = "",
  ): Promise<KubeObject> {
    if (!isObject(body)) throw badRequest("the request body must be a JSON object");
    const candidate = clone(body) as KubeObject;
    if (!isObject(candidate.metadata)) candidate.metadata = {};
    if (candidate.metadata.name !== undefined && candidate.metadata.name !== name) {
      throw badRequest("the name of the object does not match the name on the URL");
    }
    const old = this.get(type, namespace, name);
    const rv = candidate.metadata.resourceVersion;
    if (!rv && type.crdName) {
      // The generic registry's check, which names the resource where validation names the kind.
      throw invalidObject(type.resource, type.group, name, [
        invalid("metadata.resourceVersion", 0, "must be specified for an update"),
      ]);
    }
    if (rv && rv !== old.metadata.resourceVersion) {
      throw conflict(type.resource, type.group, name, OBJECT_MODIFIED);
    }
    return this.commitUpdate(type, old, candidate, ctx, subresource);
  }

  async patch(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patchType: PatchType,
    patch: unknown,
    ctx: WriteContext = {},
    subresource = "",
  ): Promise<KubeObject> {
    if (patchType === "strategic" && type.crdName) {
      throw ApiError.of(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
      );
    }
    // Like GuaranteedUpdate: a patch carries no resourceVersion of its own, so a write that raced with
    // another is retried on the newer object.
    for (let attempt = 0; ; attempt++) {
      const old =
        patchType === "apply" ? this.tryGet(type, namespace, name) : this.get(type, namespace, name);
      if (!old) return this.create(type, namespace, patch, ctx);
      let candidate: unknown;
      if (patchType === "json") candidate = applyJsonPatch(old, patch);
      else if (patchType === "strategic") candidate = strategicMergePatch(old, patch);
      else candidate = mergePatch(old, patch);
      if (!isObject(candidate) || !isObject(candidate.metadata))
        throw badRequest("the patch removed the object's metadata");
      const patched = candidate as KubeObject;
      const requested =
        isObject(patch) && isObject(patch.metadata) ? patch.metadata.resourceVersion : undefined;
      if (typeof requested === "string" && requested !== old.metadata.resourceVersion) {
        throw conflict(type.resource, type.group, name, OBJECT_MODIFIED);
      }
      patched.metadata.resourceVersion = old.metadata.resourceVersion;
      try {
        return await this.commitUpdate(type, old, patched, ctx, subresource);
      } catch (error) {
        const raced = error instanceof ApiError && error.code === 409 && error.status.reason === "Conflict";
        if (!raced || typeof requested === "string" || attempt >= 5) throw error;
      }
    }
  }

  private async commitUpdate(
    type: ResourceType,
    old: KubeObject,
    candidate: KubeObject,
    ctx: WriteContext,
    subresource: string,
  ): Promise<KubeObject> {
    if (subresource !== "" && !(subresource === "status" && type.statusSubresource)) {
      throw ApiError.of(404, "NotFound", "the server could not find the requested resource");
    }
    let next: KubeObject;
    if (subresource === "status") {
      // The status endpoint changes status only.
      next = { ...clone(old), status: candidate.status };
      if (candidate.status === undefined) delete next.status;
    } else {
      next = candidate;
      if (type.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
    }
    next.apiVersion = apiVersionOf(type);
    next.kind = type.kind;
    const meta = next.metadata;
    for (const key of [
      "uid",
      "creationTimestamp",
      "deletionTimestamp",
      "deletionGracePeriodSeconds",
      "namespace",
      "name",
      "generation",
    ] as const) {
      if (old.metadata[key] === undefined) delete meta[key];
      else (meta as Record<string, unknown>)[key] = old.metadata[key];
    }
    delete meta.managedFields;
    meta.resourceVersion = old.metadata.resourceVersion;
    this.prepareBuiltin(type, next, old, ctx);
    if (subresource === "") this.hooksOf(type).prepareUpdate?.(next, old);

    const admitted = await this.admit(type, "UPDATE", next, old, ctx, subresource);
    if (isDeepStrictEqual(admitted, old)) return old; // a no-op write changes nothing, not even the resourceVersion
    if (ctx.dryRun) return admitted;

    const current = this.store.get(storageKey(type), old.metadata.namespace, old.metadata.name ?? "");
    if (!current) throw notFound(type.resource, type.group, old.metadata.name ?? "");
    if (current.metadata.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(type.resource, type.group, old.metadata.name ?? "", OBJECT_MODIFIED);
    }
    // The last finalizer removed from an object being deleted: the deletion completes.
    if (admitted.metadata.deletionTimestamp && (admitted.metadata.finalizers ?? []).length === 0) {
      this.store.put(storageKey(type), admitted);
      return this.withTypeMeta(type, this.finishDelete(type, admitted, {}));
    }
    const stored = this.withTypeMeta(type, this.store.put(storageKey(type), admitted));
    this.afterWrite(type, stored);
    return stored;
  }

  /** What a built-in type's strategy does before storing: Secret stringData, CRD status, … */
  private prepareBuiltin(
    type: ResourceType,
    object: KubeObject,
    old: KubeObject | undefined,
    ctx: WriteContext,
  ): void {
    const key = storageKey(type);
    if (key === "/secrets") {
      const data: Record<string, string> = isObject(object.data)
        ? { ...(object.data as Record<string, string>) }
        : {};
      if (isObject(object.stringData)) {
        for (const [k, v] of Object.entries(object.stringData))
          data[k] = Buffer.from(String(v)).toString("base64");
      }
      delete object.stringData;
      object.data = data;
      object.type ??= old?.type ?? "Opaque";
    } else if (key === "/namespaces") {
      const name = object.metadata.name ?? "";
      object.metadata.labels = { ...object.metadata.labels, "kubernetes.io/metadata.name": name };
      object.spec = { finalizers: ["kubernetes"] };
      if (!old) object.status = { phase: "Active" };
    } else if (key === "apps/statefulsets" && isObject(object.spec)) {
      // The defaults of the StatefulSet API (kubectl rollout status needs the update strategy).
      const spec = object.spec;
      spec.replicas ??= 1;
      spec.podManagementPolicy ??= "OrderedReady";
      spec.revisionHistoryLimit ??= 10;
      spec.updateStrategy ??= { type: "RollingUpdate" };
      const strategy = spec.updateStrategy as JsonObject;
      if (strategy.type === "RollingUpdate") strategy.rollingUpdate ??= { partition: 0 };
      spec.persistentVolumeClaimRetentionPolicy ??= { whenDeleted: "Retain", whenScaled: "Retain" };
    } else if (key === "/events" || key === "events.k8s.io/events") {
      const error = typeof object.eventTime === "string" ? microTimeError(object.eventTime) : undefined;
      if (error !== undefined) {
        throw badRequest(
          `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: ${error}`,
        );
      }
    } else if (key === "/pods" && !old) {
      object.status = { phase: "Pending", qosClass: "BestEffort" };
    } else if (key === "/persistentvolumeclaims" && !old) {
      object.status = {
        phase: "Bound",
        accessModes: (object.spec as JsonObject | undefined)?.accessModes ?? ["ReadWriteOnce"],
      };
    } else if (key === "apiextensions.k8s.io/customresourcedefinitions") {
      const spec = object.spec as CrdSpec | undefined;
      if (spec) {
        const now = this.timestamp();
        object.status = {
          acceptedNames: spec.names,
          storedVersions: spec.versions
            .filter((v) => (v as { storage?: boolean }).storage)
            .map((v) => v.name),
          conditions: [
            {
              type: "NamesAccepted",
              status: "True",
              reason: "NoConflicts",
              message: "no conflicts found",
              lastTransitionTime: now,
            },
            {
              type: "Established",
              status: "True",
              reason: "InitialNamesAccepted",
              message: "the initial names have been accepted",
              lastTransitionTime: now,
            },
          ],
        };
      }
    } else if (type.crdName && type.schema) {
      const dropped: string[] = [];
      const normalized = normalizeCustomResource(type.schema, object, dropped);
      this.reportUnknownFields(type, dropped, ctx);
      for (const k of Object.keys(object)) delete object[k];
      Object.assign(object, normalized);
    }
  }

  /** fieldValidation: Strict refuses unknown fields (400), Warn reports them, Ignore drops them silently. */
  private reportUnknownFields(type: ResourceType, dropped: readonly string[], ctx: WriteContext): void {
    if (dropped.length === 0 || ctx.fieldValidation === "Ignore") return;
    // Sorted, as the pruning reports them (sort.Strings).
    const unknown = [...dropped].sort().map((path) => `unknown field "${path}"`);
    if (ctx.fieldValidation === "Strict") {
      throw badRequest(
        `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: strict decoding error: ${unknown.join(", ")}`,
      );
    }
    ctx.warnings?.push(...unknown);
  }

  /**
   * The strategy's validation errors: the object's metadata, then for a custom resource its schema, list
   * types and CEL rules (crd-schema.ts), in that order.
   */
  private validationErrors(
    type: ResourceType,
    object: KubeObject,
    old: KubeObject | undefined,
    subresource = "",
  ): FieldError[] {
    const name = object.metadata.name ?? "";
    const errors: FieldError[] = [];
    if (name === "") {
      errors.push(required("metadata.name", "name or generateName is required"));
    } else if (!DNS_SUBDOMAIN.test(name) || name.length > 253) {
      errors.push(
        invalid(
          "metadata.name",
          name,
          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
      );
    }
    return type.crdName && type.schema
      ? validateCustomResource(type.schema, object, old, errors, subresource)
      : errors;
  }

  /** 422 Invalid listing every validation error. */
  private validate(
    type: ResourceType,
    object: KubeObject,
    old: KubeObject | undefined,
    subresource = "",
  ): void {
    const errors = this.validationErrors(type, object, old, subresource);
    if (errors.length > 0) throw invalidObject(type.kind, type.group, object.metadata.name ?? "", errors);
  }

  /** Mutating webhooks → (defaulting/pruning again for custom resources) → validating webhooks. */
  private async admit(
    type: ResourceType,
    operation: Operation,
    object: KubeObject,
    old: KubeObject | undefined,
    ctx: WriteContext,
    subresource = "",
  ): Promise<KubeObject> {
    const attrs = {
      type,
      subresource,
      operation,
      namespace: object.metadata.namespace,
      name: object.metadata.name ?? "",
      object,
      oldObject: old,
      dryRun: ctx.dryRun ?? false,
      user: ctx.user ?? ADMIN_USER,
      options: {
        kind: operation === "CREATE" ? "CreateOptions" : "UpdateOptions",
        apiVersion: "meta.k8s.io/v1",
        ...(ctx.fieldManager ? { fieldManager: ctx.fieldManager } : {}),
        ...(ctx.dryRun ? { dryRun: ["All"] } : {}),
      },
      namespaceLabels: this.namespaceLabels(type, object.metadata.namespace),
    };
    const collect = (warnings: string[]) => ctx.warnings?.push(...warnings);
    try {
      const mutated = await this.admission.mutate(attrs);
      collect(mutated.warnings);
      let result = mutated.object ?? object;
      if (type.crdName && type.schema) result = normalizeCustomResource(type.schema, result) as KubeObject;
      if (old && type.tracksGeneration) {
        // Like PrepareForUpdate: the new generation is visible to validation and validating webhooks.
        const strip = type.statusSubresource ? withoutStatus : withoutMetadata;
        result.metadata.generation = isDeepStrictEqual(strip(result), strip(old))
          ? old.metadata.generation
          : (old.metadata.generation ?? 0) + 1;
      }
      this.validate(type, result, old, subresource);
      collect(await this.admission.validate({ ...attrs, object: result }));
      return result;
    } catch (error) {
      const warnings = (error as { warnings?: string[] }).warnings;
      if (warnings) collect(warnings);
      throw error;
    }
  }

  // ---------------------------------------------------------------- delete

  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions = {},
    ctx: WriteContext = {},
  ): Promise<KubeObject> {
    const old = this.get(type, namespace, name);
    if (storageKey(type) === "/namespaces" && ["default", "kube-system", "kube-public"].includes(name)) {
      throw ApiError.of(
        403,
        "Forbidden",
        `namespaces "${name}" is forbidden: this namespace may not be deleted`,
        {
          name,
          kind: "namespaces",
        },
      );
    }
    const pre = options.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata.uid) {
      throw conflict(
        type.resource,
        type.group,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid ?? ""}`,
      );
    }
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(
        type.resource,
        type.group,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion ?? ""}`,
      );
    }
    const attrs = {
      type,
      subresource: "",
      operation: "DELETE" as const,
      namespace: old.metadata.namespace,
      name,
      object: undefined,
      oldObject: old,
      dryRun: ctx.dryRun ?? false,
      user: ctx.user ?? ADMIN_USER,
      options: {
        kind: "DeleteOptions",
        apiVersion: "meta.k8s.io/v1",
        ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
      },
      namespaceLabels: this.namespaceLabels(type, old.metadata.namespace),
    };
    // Like AdmissionToValidateObjectDeleteFunc: mutating webhooks are called too (there is no object to patch).
    ctx.warnings?.push(...(await this.admission.mutate(attrs)).warnings);
    ctx.warnings?.push(...(await this.admission.validate(attrs)));
    if (ctx.dryRun) return old;

    const finalizers = old.metadata.finalizers ?? [];
    const graceful = this.hooksOf(type).gracefulDelete?.(old, options) ?? false;
    if (finalizers.length > 0 || graceful || storageKey(type) === "/namespaces") {
      if (old.metadata.deletionTimestamp) return old;
      const marked = clone(old);
      marked.metadata.deletionTimestamp = this.timestamp();
      if (graceful) marked.metadata.deletionGracePeriodSeconds = options.gracePeriodSeconds ?? 30;
      if (storageKey(type) === "/namespaces") marked.status = { phase: "Terminating" };
      const stored = this.withTypeMeta(type, this.store.put(storageKey(type), marked));
      if (storageKey(type) === "/namespaces") void this.emptyNamespace(name);
      return stored;
    }
    return this.withTypeMeta(type, this.finishDelete(type, old, options));
  }

  /** Removes an object for good (finalizers done, grace period over) and collects its dependents. */
  finishDelete(type: ResourceType, object: KubeObject, options: DeleteOptions): KubeObject {
    const removed = this.store.remove(
      storageKey(type),
      object.metadata.namespace,
      object.metadata.name ?? "",
    );
    if (!removed) return object;
    this.hooksOf(type).afterDelete?.(removed);
    if (type.crdName === undefined && storageKey(type) === "apiextensions.k8s.io/customresourcedefinitions") {
      this.onCrdDeleted(removed);
    }
    setImmediate(
      () => void this.collectGarbage(removed.metadata.uid ?? "", options.propagationPolicy === "Orphan"),
    );
    return removed;
  }

  /** Forcefully removes a object marked for deletion (the kubelet confirming a pod is gone). */
  forceDelete(type: ResourceType, namespace: string | undefined, name: string): void {
    const object = this.tryGet(type, namespace, name);
    if (object) this.finishDelete(type, object, {});
  }

  /** The garbage collector: dependents whose owners are all gone are deleted (or orphaned). */
  private async collectGarbage(ownerUid: string, orphan: boolean): Promise<void> {
    if (!ownerUid) return;
    for (const type of this.uniqueStorageTypes()) {
      for (const dependent of this.store.list(storageKey(type))) {
        const owners = dependent.metadata.ownerReferences ?? [];
        if (!owners.some((o) => o.uid === ownerUid)) continue;
        const remaining = owners.filter((o) => o.uid !== ownerUid);
        try {
          if (orphan || remaining.some((o) => this.uidExists(o.uid))) {
            await this.patch(type, dependent.metadata.namespace, dependent.metadata.name ?? "", "merge", {
              metadata: { ownerReferences: remaining.length > 0 ? remaining : null },
            });
          } else {
            await this.delete(type, dependent.metadata.namespace, dependent.metadata.name ?? "", {
              propagationPolicy: "Background",
            });
          }
        } catch (error) {
          if (!(error instanceof ApiError && error.code === 404)) throw error;
        }
      }
    }
  }

  private uidExists(uid: string): boolean {
    return this.uniqueStorageTypes().some((type) =>
      this.store.list(storageKey(type)).some((o) => o.metadata.uid === uid),
    );
  }

  private uniqueStorageTypes(): ResourceType[] {
    const seen = new Map<string, ResourceType>();
    for (const type of this.registry.all()) if (!seen.has(storageKey(type))) seen.set(storageKey(type), type);
    return [...seen.values()];
  }

  private async emptyNamespace(namespace: string): Promise<void> {
    for (const type of this.uniqueStorageTypes().filter((t) => t.namespaced)) {
      for (const object of this.store.list(storageKey(type), namespace)) {
        try {
          await this.delete(type, namespace, object.metadata.name ?? "", { gracePeriodSeconds: 0 });
          this.forceDelete(type, namespace, object.metadata.name ?? "");
        } catch (error) {
          if (!(error instanceof ApiError && error.code === 404)) throw error;
        }
      }
    }
    const nsType = this.type("", "v1", "namespaces");
    this.forceDelete(nsType, undefined, namespace);
  }

  // ---------------------------------------------------------------- CRDs

  private afterWrite(type: ResourceType, object: KubeObject): void {
    if (storageKey(type) === "apiextensions.k8s.io/customresourcedefinitions" && isObject(object.spec)) {
      this.registry.setCrd(
        object.metadata.name ?? "",
        typesOfCrd(object.metadata.name ?? "", object.spec as unknown as CrdSpec),
      );
    }
  }

  private onCrdDeleted(crd: KubeObject): void {
    const spec = crd.spec as unknown as CrdSpec | undefined;
    const name = crd.metadata.name ?? "";
    if (spec) {
      const key = `${spec.group}/${spec.names.plural}`;
      for (const object of this.store.list(key))
        this.store.remove(key, object.metadata.namespace, object.metadata.name ?? "");
    }
    this.registry.removeCrd(name);
  }

  unsupported(type: ResourceType, verb: string): never {
    throw methodNotSupported(type.resource, type.group, verb);
  }
}
