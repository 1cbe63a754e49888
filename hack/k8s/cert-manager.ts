/**
 * A stand-in for cert-manager (controller + cainjector) for the local control plane, where cert-manager's
 * programs cannot be built. It follows cert-manager v1.21's documented contract for the objects redis-dr's
 * manifests use, and nothing more:
 *
 * - Issuer (cert-manager.io/v1), `selfSigned` or `ca`: status Ready True (`IsReady`; `KeyPairVerified` once
 *   the ca Issuer's Secret holds a CA certificate and key), else Ready False (`ErrGetKeyPair`,
 *   `ErrInvalidKeyPair`). ClusterIssuers and other issuer types are left alone, with a warning.
 * - Certificate whose issuerRef is such an Issuer: issued when cert-manager's trigger policies say so (Secret
 *   missing or incomplete, key and certificate not a pair, issued by another issuer or for another
 *   Certificate, key not the spec's algorithm/size, names/isCA/usages/duration not the spec's, renewal time
 *   reached) into the Secret `spec.secretName` (tls.crt, tls.key, ca.crt, type kubernetes.io/tls,
 *   cert-manager's annotations), then status Ready True, notBefore, notAfter, renewalTime, revision. Waits
 *   (Ready False, Issuing True) while its Issuer is not Ready. No CertificateRequest objects are made.
 * - CA injection (cainjector): `cert-manager.io/inject-ca-from: <ns>/<certificate>` on Validating/
 *   MutatingWebhookConfigurations sets every webhook's clientConfig.caBundle to that Certificate's Secret's
 *   ca.crt (only a Secret annotated as that Certificate's counts); on a CRD, its conversion webhook's caBundle
 *   when the CRD converts by webhook. The `inject-ca-from-secret` and `inject-apiserver-ca` annotations and
 *   APIServices are not handled.
 *
 * Informer callbacks only enqueue keys (`Kind:namespace/name`); one worker reconciles them in order, re-reading
 * the objects from the API server, so a stale cache never causes a second issuance. Log lines name objects,
 * serial numbers and dates, never key material.
 */
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type {
  Informer,
  KubeConfig,
  KubernetesListObject,
  KubernetesObject,
  ObjectCache,
  V1Secret,
} from "@kubernetes/client-node";
import type { KeyObject } from "node:crypto";
import type { Logger } from "pino";
import { apiErrorCode } from "../../controller/kube/cluster-api.ts";
import { keepWatching } from "../../controller/watch/informers.ts";
import { WorkQueue } from "../../controller/watch/work-queue.ts";
import {
  describeKey,
  encodePrivateKey,
  generatePrivateKey,
  issueCertificate,
  parsePrivateKey,
  readCertificate,
  type CertificateDetails,
  type KeySpec,
  type SigningAuthority,
} from "./cert-manager-pki.ts";
import {
  GROUP,
  INJECT_CA_FROM,
  MANAGED_LABEL,
  SECRET_ANNOTATIONS,
  conditionsOf,
  injectSourceOf,
  issuerStatus,
  readyCertificateStatus,
  waitingCertificateStatus,
  isObject,
  issuanceDecision,
  issuerRefOf,
  renewalTimeOf,
  requestedOf,
  secretAnnotationsFor,
  stringOf,
  timestamp,
  type Condition,
  type IssuedSecret,
  type IssuerRef,
  type JsonObject,
} from "./cert-manager-policies.ts";

const VERSION = "v1";

/** setTimeout's limit is 2^31-1 ms; renewal checks further away are re-planned daily. */
const MAX_REQUEUE_MS = 24 * 3600 * 1000;

const mergePatchOptions = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const jsonPatchOptions = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

// ------------------------------------------------------------------ objects, checked where they enter

interface Resource {
  readonly name: string;
  readonly namespace: string;
  readonly generation: number | undefined;
  readonly resourceVersion: string | undefined;
  readonly spec: JsonObject;
  readonly status: JsonObject;
}

function asResource(value: unknown): Resource | undefined {
  if (!isObject(value) || !isObject(value.metadata) || !isObject(value.spec)) return undefined;
  const { name, namespace, generation, resourceVersion } = value.metadata;
  if (typeof name !== "string" || typeof namespace !== "string") return undefined;
  return {
    name,
    namespace,
    generation: typeof generation === "number" ? generation : undefined,
    resourceVersion: stringOf(resourceVersion),
    spec: value.spec,
    status: isObject(value.status) ? value.status : {},
  };
}

// ------------------------------------------------------------------ keys

type Kind =
  | "Certificate"
  | "Issuer"
  | "ValidatingWebhookConfiguration"
  | "MutatingWebhookConfiguration"
  | "CustomResourceDefinition";

const INJECTABLE: readonly Kind[] = [
  "ValidatingWebhookConfiguration",
  "MutatingWebhookConfiguration",
  "CustomResourceDefinition",
];

const keyOf = (kind: Kind, namespace: string, name: string): string => `${kind}:${namespace}/${name}`;

function splitKey(key: string): { kind: Kind; namespace: string; name: string } {
  const colon = key.indexOf(":");
  const slash = key.indexOf("/", colon);
  return {
    kind: key.slice(0, colon) as Kind,
    namespace: key.slice(colon + 1, slash),
    name: key.slice(slash + 1),
  };
}

// ------------------------------------------------------------------ the stand-in

export interface CertManagerStandInOptions {
  readonly kubeconfig: KubeConfig;
  readonly logger: Logger;
}

export interface CertManagerStandIn {
  stop(): Promise<void>;
}

type Cache = Informer<KubernetesObject> & ObjectCache<KubernetesObject>;

class StandIn {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private readonly extensions: ApiextensionsV1Api;
  readonly queue = new WorkQueue({ baseDelayMs: 250, maxDelayMs: 30_000 });
  /** Informer caches, only to map an event to the keys it concerns. */
  readonly caches = new Map<Kind | "Secret", Cache>();
  /** Warnings already logged (unsupported issuers), so a requeue does not repeat them. */
  private readonly warned = new Set<string>();

  constructor(
    kubeconfig: KubeConfig,
    readonly log: Logger,
  ) {
    this.custom = kubeconfig.makeApiClient(CustomObjectsApi);
    this.core = kubeconfig.makeApiClient(CoreV1Api);
    this.admission = kubeconfig.makeApiClient(AdmissionregistrationV1Api);
    this.extensions = kubeconfig.makeApiClient(ApiextensionsV1Api);
  }

  private warnOnce(key: string, fields: object, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log.warn(fields, message);
  }

  // ---------------------------------------------------------------- reads

  private async getCustom(plural: string, namespace: string, name: string): Promise<Resource | undefined> {
    try {
      const object: unknown = await this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural,
        name,
      });
      const resource = asResource(object);
      if (resource === undefined) throw new Error(`${plural} ${namespace}/${name} has no metadata or spec`);
      return resource;
    } catch (error) {
      if (apiErrorCode(error) === 404) return undefined;
      throw error;
    }
  }

  private async getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name });
    } catch (error) {
      if (apiErrorCode(error) === 404) return undefined;
      throw error;
    }
  }

  private async listCustom(plural: string): Promise<KubernetesListObject<KubernetesObject>> {
    const list: unknown = await this.custom.listClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural,
    });
    const { items, metadata } = (isObject(list) ? list : {}) as { items?: unknown; metadata?: object };
    return {
      metadata: metadata ?? {},
      items: Array.isArray(items)
        ? (items.filter((i) => asResource(i) !== undefined) as KubernetesObject[])
        : [],
    };
  }

  // ---------------------------------------------------------------- writes

  /**
   * Writes `status` on the status subresource as a merge patch guarded by resourceVersion (a 409 fails the
   * key, which is retried on the fresh object); keys absent from `status` are removed.
   */
  private async writeStatus(plural: string, resource: Resource, status: JsonObject): Promise<void> {
    if (JSON.stringify(status) === JSON.stringify(resource.status)) return;
    const patch: JsonObject = { ...status };
    for (const key of Object.keys(resource.status)) if (!(key in status)) patch[key] = null;
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: resource.namespace,
        plural,
        name: resource.name,
        body: { metadata: { resourceVersion: resource.resourceVersion }, status: patch },
      },
      mergePatchOptions,
    );
  }

  /**
   * Creates or replaces the Secret with the issued data. Like cert-manager's apply, it keeps data keys,
   * labels and annotations others own, and the type of an existing Secret.
   */
  private async writeSecret(
    existing: V1Secret | undefined,
    namespace: string,
    name: string,
    data: Record<string, string>,
    annotations: Record<string, string>,
  ): Promise<void> {
    const ours = new Set<string>(Object.values(SECRET_ANNOTATIONS));
    const kept = Object.fromEntries(
      Object.entries(existing?.metadata?.annotations ?? {}).filter(([k]) => !ours.has(k)),
    );
    const body: V1Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        ...existing?.metadata,
        managedFields: undefined,
        name,
        namespace,
        labels: { ...existing?.metadata?.labels, [MANAGED_LABEL]: "true" },
        annotations: { ...kept, ...annotations },
      },
      type: existing?.type ?? "kubernetes.io/tls",
      data: {
        ...existing?.data,
        ...Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
      },
    };
    if (existing === undefined) await this.core.createNamespacedSecret({ namespace, body });
    else await this.core.replaceNamespacedSecret({ namespace, name, body });
  }

  // ---------------------------------------------------------------- reconcile

  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const { kind, namespace, name } = splitKey(key);
    switch (kind) {
      case "Certificate":
        return this.reconcileCertificate(namespace, name);
      case "Issuer":
        await this.reconcileIssuer(namespace, name);
        return {};
      default:
        await this.injectCa(kind, name);
        return {};
    }
  }

  /** An Issuer's Ready condition: what cert-manager's selfSigned and ca issuers' Setup decide. */
  private async issuerReadiness(
    issuer: Resource,
  ): Promise<Omit<Condition, "lastTransitionTime" | "observedGeneration"> | undefined> {
    if (isObject(issuer.spec.selfSigned))
      return { type: "Ready", status: "True", reason: "IsReady", message: "" };
    if (!isObject(issuer.spec.ca)) return undefined;
    const secretName = stringOf(issuer.spec.ca.secretName) ?? "";
    const notReady = (reason: string, why: string) =>
      ({
        type: "Ready",
        status: "False",
        reason,
        message: `Error getting keypair for CA issuer: ${why}`,
      }) as const;
    const secret = await this.getSecret(issuer.namespace, secretName);
    if (secret === undefined) return notReady("ErrGetKeyPair", `secrets "${secretName}" not found`);
    const certPem = decoded(secret, "tls.crt");
    const keyPem = decoded(secret, "tls.key");
    if (certPem === undefined)
      return notReady("ErrGetKeyPair", `no data for "tls.crt" in secret '${issuer.namespace}/${secretName}'`);
    if (keyPem === undefined)
      return notReady(
        "ErrGetKeyPair",
        `no private key data for "tls.key" in secret '${issuer.namespace}/${secretName}'`,
      );
    try {
      parsePrivateKey(keyPem);
      if (!(await readCertificate(certPem)).isCA)
        return notReady("ErrInvalidKeyPair", "certificate is not a CA");
    } catch (error) {
      return notReady("ErrGetKeyPair", error instanceof Error ? error.message : String(error));
    }
    return { type: "Ready", status: "True", reason: "KeyPairVerified", message: "Signing CA verified" };
  }

  private async reconcileIssuer(namespace: string, name: string): Promise<void> {
    const issuer = await this.getCustom("issuers", namespace, name);
    if (issuer === undefined) return;
    const ready = await this.issuerReadiness(issuer);
    if (ready === undefined) {
      const type = Object.keys(issuer.spec).join(",");
      this.warnOnce(
        `issuer-type:${namespace}/${name}`,
        { issuer: `${namespace}/${name}`, type },
        "issuer type not supported by the stand-in; ignored",
      );
      return;
    }
    const before = conditionsOf(issuer.status).find((c) => c.type === "Ready");
    if (before?.status !== ready.status || before.reason !== ready.reason)
      this.log.info(
        { issuer: `${namespace}/${name}`, ready: ready.status, reason: ready.reason, message: ready.message },
        "issuer readiness",
      );
    await this.writeStatus(
      "issuers",
      issuer,
      issuerStatus(issuer.status, issuer.generation, ready, new Date()),
    );
  }

  private async reconcileCertificate(namespace: string, name: string): Promise<{ requeueAfterMs?: number }> {
    const certificate = await this.getCustom("certificates", namespace, name);
    if (certificate === undefined) return {};
    const issuerRef = issuerRefOf(certificate.spec);
    const secretName = stringOf(certificate.spec.secretName);
    if (issuerRef === undefined || secretName === undefined) return {};
    if (issuerRef.kind !== "Issuer" || issuerRef.group !== GROUP) {
      this.warnOnce(
        `issuer-kind:${namespace}/${name}`,
        { certificate: `${namespace}/${name}`, issuerRef },
        "only Issuers (cert-manager.io) are supported by the stand-in; Certificate ignored",
      );
      return {};
    }
    const now = new Date();
    const secret = await this.getSecret(namespace, secretName);
    const decision = issuanceDecision(
      {
        certificateName: name,
        spec: certificate.spec,
        issuerRef,
        secret: secret && (await readIssuedSecret(secret)),
      },
      now,
    );
    if (decision.kind === "up-to-date") {
      const { cert } = decision;
      await this.writeStatus(
        "certificates",
        certificate,
        readyCertificateStatus(certificate.status, certificate, cert, now),
      );
      return { requeueAfterMs: untilRenewal(certificate.spec, cert, now) };
    }
    const authority = await this.signingAuthority(namespace, issuerRef);
    if (authority === undefined) {
      // The Issuer's status change (or its Secret's) enqueues this Certificate again.
      await this.writeStatus(
        "certificates",
        certificate,
        waitingCertificateStatus(certificate.status, certificate.generation, decision.trigger, now),
      );
      return {};
    }
    const cert = await this.issue(certificate, issuerRef, secret, authority, now);
    const revision = (typeof certificate.status.revision === "number" ? certificate.status.revision : 0) + 1;
    this.log.info(
      {
        certificate: `${namespace}/${name}`,
        secret: secretName,
        issuer: issuerRef.name,
        reason: decision.trigger.reason,
        serial: cert.serial,
        notAfter: timestamp(cert.notAfter),
        revision,
      },
      "issued certificate",
    );
    await this.writeStatus(
      "certificates",
      certificate,
      readyCertificateStatus(certificate.status, certificate, cert, now, revision),
    );
    return { requeueAfterMs: untilRenewal(certificate.spec, cert, now) };
  }

  /**
   * Makes the key (a new one, unless rotationPolicy Never and the Secret's still fits the spec) and the
   * certificate, and writes the Secret.
   */
  private async issue(
    certificate: Resource,
    issuerRef: IssuerRef,
    secret: V1Secret | undefined,
    authority: SigningAuthority,
    now: Date,
  ): Promise<CertificateDetails> {
    const { spec } = certificate;
    const requested = requestedOf(spec);
    const existingKey = secret && decoded(secret, "tls.key");
    const reused =
      isObject(spec.privateKey) && spec.privateKey.rotationPolicy === "Never" && existingKey !== undefined
        ? reusableKey(existingKey, requested.key)
        : undefined;
    const key = reused ?? (await generatePrivateKey(requested.key));
    const issued = await issueCertificate(requested.template, key, authority, now);
    await this.writeSecret(
      secret,
      certificate.namespace,
      stringOf(spec.secretName) ?? "",
      {
        "tls.crt": issued.certPem,
        "tls.key": encodePrivateKey(key, requested.key.encoding),
        "ca.crt": issued.caPem,
      },
      secretAnnotationsFor(certificate.name, issuerRef, issued.details),
    );
    return issued.details;
  }

  /**
   * Who signs for the Issuer, once it is Ready (cert-manager's CertificateRequest controllers wait for that):
   * "self" for selfSigned, the CA Secret's chain and key for ca; undefined while it cannot sign.
   */
  private async signingAuthority(
    namespace: string,
    issuerRef: IssuerRef,
  ): Promise<SigningAuthority | undefined> {
    const issuer = await this.getCustom("issuers", namespace, issuerRef.name);
    if (issuer === undefined) return undefined;
    const ready = conditionsOf(issuer.status).find((c) => c.type === "Ready");
    if (ready?.status !== "True") return undefined;
    if (isObject(issuer.spec.selfSigned)) return { kind: "self" };
    if (!isObject(issuer.spec.ca)) return undefined;
    const secret = await this.getSecret(namespace, stringOf(issuer.spec.ca.secretName) ?? "");
    const chainPem = secret && decoded(secret, "tls.crt");
    const keyPem = secret && decoded(secret, "tls.key");
    if (chainPem === undefined || keyPem === undefined) {
      this.log.warn(
        { issuer: `${namespace}/${issuerRef.name}` },
        "CA Secret has no tls.crt/tls.key although the Issuer is Ready; waiting",
      );
      return undefined;
    }
    return { kind: "ca", chainPem, key: parsePrivateKey(keyPem), caPem: decoded(secret!, "ca.crt") };
  }

  /** cainjector: the Certificate's Secret's ca.crt into the target's caBundle fields. */
  private async injectCa(kind: Kind, name: string): Promise<void> {
    const target = await this.getTarget(kind, name);
    if (target === undefined) return;
    const source = injectSourceOf(target.annotations);
    if (source === undefined) {
      if (target.annotations?.[INJECT_CA_FROM] !== undefined)
        this.warnOnce(
          `inject:${kind}/${name}`,
          { target: `${kind}/${name}` },
          `${INJECT_CA_FROM} needs <namespace>/<certificate>`,
        );
      return;
    }
    const certificate = await this.getCustom("certificates", source.namespace, source.name);
    const secretName = certificate && stringOf(certificate.spec.secretName);
    const secret = secretName === undefined ? undefined : await this.getSecret(source.namespace, secretName);
    // Only a Secret issued for this Certificate counts (owningCertForSecret); absent data waits for an event.
    if (secret?.metadata?.annotations?.[SECRET_ANNOTATIONS.certificateName] !== source.name) return;
    const caBundle = secret.data?.["ca.crt"];
    if (caBundle === undefined) return;
    const operations = target.caBundlePaths
      .filter((p) => p.current !== caBundle)
      .map((p) => ({ op: "add", path: p.path, value: caBundle }));
    if (operations.length === 0) return;
    // A JSON patch of the caBundle fields only: a full replace through client-node's models would drop
    // fields a newer API server has and the models do not know.
    if (kind === "ValidatingWebhookConfiguration")
      await this.admission.patchValidatingWebhookConfiguration({ name, body: operations }, jsonPatchOptions);
    else if (kind === "MutatingWebhookConfiguration")
      await this.admission.patchMutatingWebhookConfiguration({ name, body: operations }, jsonPatchOptions);
    else await this.extensions.patchCustomResourceDefinition({ name, body: operations }, jsonPatchOptions);
    this.log.info(
      {
        target: `${kind}/${name}`,
        from: `${source.namespace}/${source.name}`,
        secret: secretName,
        fields: operations.length,
      },
      "injected CA bundle",
    );
  }

  /** The target's annotations and the JSON pointers of its caBundle fields with their current values. */
  private async getTarget(
    kind: Kind,
    name: string,
  ): Promise<
    | {
        annotations: Record<string, string> | undefined;
        caBundlePaths: { path: string; current: string | undefined }[];
      }
    | undefined
  > {
    try {
      if (kind === "CustomResourceDefinition") {
        const crd = await this.extensions.readCustomResourceDefinition({ name });
        const conversion = crd.spec.conversion;
        // cainjector's crdConversionTarget: only a CRD that converts by webhook has a caBundle to set.
        // (The API server requires webhook.clientConfig for that strategy.)
        const clientConfig =
          conversion?.strategy === "Webhook" ? conversion.webhook?.clientConfig : undefined;
        const paths = clientConfig
          ? [{ path: "/spec/conversion/webhook/clientConfig/caBundle", current: clientConfig.caBundle }]
          : [];
        return { annotations: crd.metadata?.annotations, caBundlePaths: paths };
      }
      const configuration =
        kind === "ValidatingWebhookConfiguration"
          ? await this.admission.readValidatingWebhookConfiguration({ name })
          : await this.admission.readMutatingWebhookConfiguration({ name });
      return {
        annotations: configuration.metadata?.annotations,
        caBundlePaths: (configuration.webhooks ?? []).map((webhook, i) => ({
          path: `/webhooks/${i}/clientConfig/caBundle`,
          current: webhook.clientConfig.caBundle,
        })),
      };
    } catch (error) {
      if (apiErrorCode(error) === 404) return undefined;
      throw error;
    }
  }

  // ---------------------------------------------------------------- events → keys

  /** The injection targets that name this Certificate. */
  private enqueueTargetsOf(namespace: string, certificate: string): void {
    for (const kind of INJECTABLE) {
      for (const target of this.caches.get(kind)?.list() ?? []) {
        const source = injectSourceOf(target.metadata?.annotations);
        if (source?.namespace === namespace && source.name === certificate)
          this.queue.add(keyOf(kind, "", target.metadata?.name ?? ""));
      }
    }
  }

  onCertificate(object: KubernetesObject): void {
    const { namespace = "", name = "" } = object.metadata ?? {};
    this.queue.add(keyOf("Certificate", namespace, name));
    this.enqueueTargetsOf(namespace, name);
  }

  onIssuer(object: KubernetesObject): void {
    const { namespace = "", name = "" } = object.metadata ?? {};
    this.queue.add(keyOf("Issuer", namespace, name));
    for (const certificate of this.caches.get("Certificate")?.list(namespace) ?? []) {
      const resource = asResource(certificate);
      const ref = resource && issuerRefOf(resource.spec);
      if (ref?.kind === "Issuer" && ref.name === name)
        this.queue.add(keyOf("Certificate", namespace, resource!.name));
    }
  }

  onSecret(object: KubernetesObject): void {
    const { namespace = "", name = "" } = object.metadata ?? {};
    for (const certificate of this.caches.get("Certificate")?.list(namespace) ?? []) {
      const resource = asResource(certificate);
      if (resource?.spec.secretName !== name) continue;
      this.queue.add(keyOf("Certificate", namespace, resource.name));
      this.enqueueTargetsOf(namespace, resource.name);
    }
    for (const issuer of this.caches.get("Issuer")?.list(namespace) ?? []) {
      const resource = asResource(issuer);
      if (resource && isObject(resource.spec.ca) && resource.spec.ca.secretName === name)
        this.queue.add(keyOf("Issuer", namespace, resource.name));
    }
  }

  onTarget(kind: Kind, object: KubernetesObject): void {
    if (object.metadata?.annotations?.[INJECT_CA_FROM] !== undefined)
      this.queue.add(keyOf(kind, "", object.metadata.name ?? ""));
  }

  // ---------------------------------------------------------------- informers

  informerSources(): {
    kind: Kind | "Secret";
    path: string;
    list: () => Promise<KubernetesListObject<KubernetesObject>>;
    on: (object: KubernetesObject) => void;
  }[] {
    return [
      {
        kind: "Issuer",
        path: `/apis/${GROUP}/${VERSION}/issuers`,
        list: () => this.listCustom("issuers"),
        on: (o) => this.onIssuer(o),
      },
      {
        kind: "Certificate",
        path: `/apis/${GROUP}/${VERSION}/certificates`,
        list: () => this.listCustom("certificates"),
        on: (o) => this.onCertificate(o),
      },
      {
        kind: "Secret",
        path: "/api/v1/secrets",
        list: () => this.core.listSecretForAllNamespaces(),
        on: (o) => this.onSecret(o),
      },
      {
        kind: "ValidatingWebhookConfiguration",
        path: "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
        list: () => this.admission.listValidatingWebhookConfiguration(),
        on: (o) => this.onTarget("ValidatingWebhookConfiguration", o),
      },
      {
        kind: "MutatingWebhookConfiguration",
        path: "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
        list: () => this.admission.listMutatingWebhookConfiguration(),
        on: (o) => this.onTarget("MutatingWebhookConfiguration", o),
      },
      {
        kind: "CustomResourceDefinition",
        path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        list: () => this.extensions.listCustomResourceDefinition(),
        on: (o) => this.onTarget("CustomResourceDefinition", o),
      },
    ];
  }
}

/** How long until the certificate is due for renewal, for the queue (at least 1 s, at most MAX_REQUEUE_MS). */
function untilRenewal(spec: JsonObject, cert: CertificateDetails, now: Date): number {
  const renewal = renewalTimeOf(spec, cert.notBefore, cert.notAfter);
  return Math.min(MAX_REQUEUE_MS, Math.max(1000, renewal.getTime() - now.getTime()));
}

/** A Secret's key, decoded from base64; undefined when absent or empty. */
function decoded(secret: V1Secret, key: string): string | undefined {
  const value = secret.data?.[key];
  return value ? Buffer.from(value, "base64").toString("utf8") : undefined;
}

async function readIssuedSecret(secret: V1Secret): Promise<IssuedSecret> {
  const keyPem = decoded(secret, "tls.key");
  const certPem = decoded(secret, "tls.crt");
  const attempt = async <T>(read: () => T | Promise<T>): Promise<T | Error> => {
    try {
      return await read();
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  };
  return {
    annotations: secret.metadata?.annotations ?? {},
    hasKey: keyPem !== undefined,
    hasCert: certPem !== undefined,
    key: keyPem === undefined ? undefined : await attempt(() => parsePrivateKey(keyPem)),
    cert: certPem === undefined ? undefined : await attempt(() => readCertificate(certPem)),
  };
}

/** rotationPolicy Never: the Secret's key, when it still is what the spec asks for. */
function reusableKey(pem: string, spec: KeySpec): KeyObject | undefined {
  try {
    const key = parsePrivateKey(pem);
    const described = describeKey(key);
    return described?.algorithm === spec.algorithm && described.size === spec.size ? key : undefined;
  } catch {
    return undefined;
  }
}

/** Sends every add/update/delete to `on` (which only enqueues), and keeps the informer watching. */
function watchWithRestart(
  informer: Cache,
  what: string,
  on: (object: KubernetesObject) => void,
  log: Logger,
): { stop(): Promise<void> } {
  for (const verb of ["add", "update", "delete"] as const) informer.on(verb, on);
  return keepWatching(informer, what, log);
}

/**
 * Starts the stand-in: watches Issuers, Certificates, Secrets, webhook configurations and CRDs in every
 * namespace and reconciles them until `stop()`, which ends every watch and timer it started.
 */
export async function startCertManagerStandIn({
  kubeconfig,
  logger,
}: CertManagerStandInOptions): Promise<CertManagerStandIn> {
  const log = logger.child({ component: "cert-manager-stand-in" });
  const standIn = new StandIn(kubeconfig, log);
  const watches = standIn.informerSources().map((source) => {
    const informer = makeInformer(kubeconfig, source.path, source.list);
    standIn.caches.set(source.kind, informer);
    return watchWithRestart(informer, source.kind, source.on, log);
  });
  let stopped = false;
  // After stop, keys still queued are dropped rather than reconciled (the API server may be gone by then).
  const running = standIn.queue.run(
    async (key) => (stopped ? {} : standIn.reconcile(key)),
    1,
    (key, error, retryInMs) => log.warn({ err: error, key, retryInMs }, "reconcile failed; retrying"),
  );
  log.info("cert-manager stand-in started");
  let stopping: Promise<void> | undefined;
  return {
    stop: () =>
      (stopping ??= (async () => {
        stopped = true;
        standIn.queue.shutdown();
        await Promise.all(watches.map((w) => w.stop()));
        await running;
        log.info("cert-manager stand-in stopped");
      })()),
  };
}
