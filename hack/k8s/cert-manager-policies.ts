/**
 * The decisions of the cert-manager stand-in (cert-manager.ts), as pure functions: what a Certificate's spec
 * asks for (with cert-manager's defaults), when an issued Secret must be issued again (cert-manager's trigger
 * policy chain, internal/controller/certificates/policies), when to renew, the Secret's annotations and the
 * status conditions. No I/O: the stand-in reads the objects and acts on the answers.
 */
import type { KeyObject } from "node:crypto";
import {
  describeKey,
  keyMatchesCertificate,
  usageExtensions,
  type CertificateDetails,
  type CertificateTemplate,
  type KeySpec,
} from "./cert-manager-pki.ts";

export const GROUP = "cert-manager.io";
export const INJECT_CA_FROM = "cert-manager.io/inject-ca-from";

/** cert-manager's annotation and label keys (pkg/apis/certmanager/v1/types.go). */
export const SECRET_ANNOTATIONS = {
  certificateName: "cert-manager.io/certificate-name",
  issuerName: "cert-manager.io/issuer-name",
  issuerKind: "cert-manager.io/issuer-kind",
  issuerGroup: "cert-manager.io/issuer-group",
  commonName: "cert-manager.io/common-name",
  altNames: "cert-manager.io/alt-names",
  ipSans: "cert-manager.io/ip-sans",
  uriSans: "cert-manager.io/uri-sans",
  emailSans: "cert-manager.io/email-sans",
} as const;
export const MANAGED_LABEL = "controller.cert-manager.io/fao";

/** cert-manager's default Certificate duration, 90 days. */
const DEFAULT_DURATION_MS = 90 * 24 * 3600 * 1000;

// ------------------------------------------------------------------ the objects, checked where they enter

export type JsonObject = Record<string, unknown>;
export const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);
export const stringOf = (value: unknown): string | undefined =>
  typeof value === "string" ? value : undefined;
const stringsOf = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];

export interface Condition {
  readonly type: string;
  readonly status: "True" | "False" | "Unknown";
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
  readonly observedGeneration?: number;
}

export interface IssuerRef {
  readonly name: string;
  readonly kind: string;
  readonly group: string;
}

/** spec.issuerRef with cert-manager's defaults (kind Issuer, group cert-manager.io). */
export function issuerRefOf(spec: JsonObject): IssuerRef | undefined {
  const ref = spec.issuerRef;
  if (!isObject(ref) || typeof ref.name !== "string") return undefined;
  return { name: ref.name, kind: stringOf(ref.kind) || "Issuer", group: stringOf(ref.group) || GROUP };
}

export const conditionsOf = (status: JsonObject): Condition[] =>
  Array.isArray(status.conditions) ? (status.conditions.filter(isObject) as unknown as Condition[]) : [];

// ------------------------------------------------------------------ decisions (pure)

const GO_DURATION_UNITS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go duration string ("2160h", "1h30m", "8760h0m0s") in milliseconds; undefined when it is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return text === "0" ? 0 : undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g))
    total += Number(amount) * GO_DURATION_UNITS[unit!]!;
  return total;
}

/** The key and certificate a Certificate's spec asks for, with cert-manager's defaults. */
export function requestedOf(spec: JsonObject): { key: KeySpec; template: CertificateTemplate } {
  const privateKey = isObject(spec.privateKey) ? spec.privateKey : {};
  const algorithm = stringOf(privateKey.algorithm) ?? "RSA";
  if (algorithm !== "RSA" && algorithm !== "ECDSA")
    throw new Error(`privateKey.algorithm ${algorithm} is not supported by the stand-in`);
  const size =
    typeof privateKey.size === "number" && privateKey.size > 0
      ? privateKey.size
      : algorithm === "RSA"
        ? 2048
        : 256;
  const duration = stringOf(spec.duration);
  const durationMs = duration === undefined ? DEFAULT_DURATION_MS : parseGoDuration(duration);
  if (durationMs === undefined) throw new Error(`spec.duration ${duration ?? ""} is not a Go duration`);
  return {
    key: { algorithm, size, encoding: privateKey.encoding === "PKCS8" ? "PKCS8" : "PKCS1" },
    template: {
      commonName: stringOf(spec.commonName) || undefined,
      dnsNames: stringsOf(spec.dnsNames),
      ipAddresses: stringsOf(spec.ipAddresses),
      uris: stringsOf(spec.uris),
      emailAddresses: stringsOf(spec.emailAddresses),
      isCA: spec.isCA === true,
      durationMs,
      usages: stringsOf(spec.usages),
    },
  };
}

/**
 * When to renew (pki.RenewalTime without windows): `renewBefore` if set and shorter than the lifetime, else
 * `renewBeforePercentage`, else a third of the lifetime before notAfter; truncated to the second.
 */
export function renewalTimeOf(spec: JsonObject, notBefore: Date, notAfter: Date): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  const renewBefore = parseGoDuration(stringOf(spec.renewBefore) ?? "");
  const percentage = typeof spec.renewBeforePercentage === "number" ? spec.renewBeforePercentage : 0;
  const before =
    renewBefore !== undefined && renewBefore > 0 && renewBefore < lifetime
      ? renewBefore
      : percentage > 0 && percentage < 100
        ? (lifetime * percentage) / 100
        : lifetime / 3;
  return new Date(Math.floor((notAfter.getTime() - before) / 1000) * 1000);
}

/** What an existing Secret holds, parsed; parse failures are kept as errors for the policies to report. */
export interface IssuedSecret {
  readonly annotations: Readonly<Record<string, string>>;
  readonly hasKey: boolean;
  readonly hasCert: boolean;
  readonly key: KeyObject | Error | undefined;
  readonly cert: CertificateDetails | Error | undefined;
}

export interface Trigger {
  readonly reason: string;
  readonly message: string;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  new Set(a).size === new Set(b).size && a.every((x) => b.includes(x));

/** FuzzyX509AltNamesMatchSpec, plus what the stand-in cannot compare through a CertificateRequest. */
export function specViolations(template: CertificateTemplate, cert: CertificateDetails): string[] {
  const violations: string[] = [];
  // Names may move between commonName and dnsNames (CAs promote one to the other).
  const expected = [...template.dnsNames, ...(template.commonName ? [template.commonName] : [])];
  const actual = [...cert.dnsNames, ...(cert.commonName ? [cert.commonName] : [])];
  if (!sameSet(expected, actual)) {
    if (
      (template.commonName && !actual.includes(template.commonName)) ||
      (cert.commonName && !expected.includes(cert.commonName))
    )
      violations.push("spec.commonName");
    if (
      !template.dnsNames.every((n) => actual.includes(n)) ||
      !cert.dnsNames.every((n) => expected.includes(n))
    )
      violations.push("spec.dnsNames");
  }
  if (!sameSet(template.ipAddresses, cert.ipAddresses)) violations.push("spec.ipAddresses");
  if (!sameSet(template.uris, cert.uris)) violations.push("spec.uris");
  if (!sameSet(template.emailAddresses, cert.emailAddresses)) violations.push("spec.emailAddresses");
  // cert-manager finds these through the CertificateRequest that issued the Secret; the stand-in makes none,
  // so it compares the certificate itself.
  if (template.isCA !== cert.isCA) violations.push("spec.isCA");
  const usages = usageExtensions(template);
  if (usages.keyUsage !== cert.keyUsage || !sameSet(usages.extKeyUsages, cert.extKeyUsages))
    violations.push("spec.usages");
  if (template.durationMs !== cert.notAfter.getTime() - cert.notBefore.getTime())
    violations.push("spec.duration");
  return violations;
}

export type IssuanceDecision =
  | { readonly kind: "issue"; readonly trigger: Trigger }
  | { readonly kind: "up-to-date"; readonly cert: CertificateDetails };

const issue = (trigger: Trigger): IssuanceDecision => ({ kind: "issue", trigger });

/**
 * cert-manager's trigger policy chain (internal/controller/certificates/policies): the first reason to issue,
 * with its reason and message, or the Secret's certificate when it is up to date.
 */
export function issuanceDecision(
  input: {
    readonly certificateName: string;
    readonly spec: JsonObject;
    readonly issuerRef: IssuerRef;
    readonly secret: IssuedSecret | undefined;
  },
  now: Date,
): IssuanceDecision {
  const { secret, spec } = input;
  if (secret === undefined)
    return issue({ reason: "DoesNotExist", message: "Issuing certificate as Secret does not exist" });
  if (!secret.hasKey)
    return issue({
      reason: "MissingData",
      message: "Issuing certificate as Secret does not contain a private key",
    });
  if (!secret.hasCert)
    return issue({
      reason: "MissingData",
      message: "Issuing certificate as Secret does not contain a certificate",
    });
  const { key, cert } = secret;
  if (key === undefined || key instanceof Error)
    return issue({
      reason: "InvalidKeyPair",
      message: `Issuing certificate as Secret contains invalid private key data: ${key?.message ?? ""}`,
    });
  if (cert === undefined || cert instanceof Error)
    return issue({
      reason: "InvalidCertificate",
      message: `Issuing certificate as Secret contains an invalid certificate: ${cert?.message ?? ""}`,
    });
  if (!keyMatchesCertificate(key, cert))
    return issue({
      reason: "InvalidKeyPair",
      message: "Issuing certificate as Secret contains a private key that does not match the certificate",
    });
  const a = secret.annotations;
  const hasIssuerAnnotations = [
    SECRET_ANNOTATIONS.issuerName,
    SECRET_ANNOTATIONS.issuerKind,
    SECRET_ANNOTATIONS.issuerGroup,
  ].some((k) => k in a);
  if (
    (hasIssuerAnnotations && a[SECRET_ANNOTATIONS.issuerName] !== input.issuerRef.name) ||
    (a[SECRET_ANNOTATIONS.issuerKind] || "Issuer") !== input.issuerRef.kind ||
    (a[SECRET_ANNOTATIONS.issuerGroup] || GROUP) !== input.issuerRef.group
  )
    return issue({
      reason: "IncorrectIssuer",
      message: `Issuing certificate as Secret was previously issued by "${a[SECRET_ANNOTATIONS.issuerKind] || "Issuer"}.${a[SECRET_ANNOTATIONS.issuerGroup] || GROUP}/${a[SECRET_ANNOTATIONS.issuerName] ?? ""}"`,
    });
  const owner = a[SECRET_ANNOTATIONS.certificateName];
  if (owner !== undefined && owner !== input.certificateName)
    return issue({
      reason: "IncorrectCertificate",
      message: `Secret was issued for "${owner}". If this message is not transient, you might have two conflicting Certificates pointing to the same secret.`,
    });
  const requested = requestedOf(spec);
  const described = describeKey(key);
  const keyViolations: string[] = [];
  if (described?.algorithm !== requested.key.algorithm) keyViolations.push("spec.privateKey.algorithm");
  else if (described.size !== requested.key.size) keyViolations.push("spec.privateKey.size");
  if (keyViolations.length > 0)
    return issue({
      reason: "SecretMismatch",
      message: `Existing private key is not up to date for spec: [${keyViolations.join(" ")}]`,
    });
  const violations = specViolations(requested.template, cert);
  if (violations.length > 0)
    return issue({
      reason: "SecretMismatch",
      message: `Issuing certificate as Existing issued Secret is not up to date for spec: [${violations.join(" ")}]`,
    });
  const renewal = renewalTimeOf(spec, cert.notBefore, cert.notAfter);
  if (renewal.getTime() <= now.getTime())
    return issue({
      reason: "Renewing",
      message: `Renewing certificate as renewal was scheduled at ${renewal.toISOString()}`,
    });
  return { kind: "up-to-date", cert };
}

/** Kubernetes' metav1.Time: RFC 3339 to the second. */
export const timestamp = (date: Date): string => date.toISOString().replace(/\.\d+Z$/, "Z");

/** meta.SetStatusCondition: lastTransitionTime only moves when the status does. */
export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, "lastTransitionTime">,
  now: Date,
): Condition[] {
  const existing = conditions.find((c) => c.type === next.type);
  const condition: Condition = {
    ...next,
    lastTransitionTime:
      existing !== undefined && existing.status === next.status
        ? existing.lastTransitionTime
        : timestamp(now),
  };
  return existing === undefined
    ? [...conditions, condition]
    : conditions.map((c) => (c.type === next.type ? condition : c));
}

/** The annotations cert-manager writes on an issued Secret (AnnotationsForCertificate and issuer ref). */
export function secretAnnotationsFor(
  certificateName: string,
  issuerRef: IssuerRef,
  cert: CertificateDetails,
): Record<string, string> {
  return {
    [SECRET_ANNOTATIONS.commonName]: cert.commonName ?? "",
    [SECRET_ANNOTATIONS.altNames]: cert.dnsNames.join(","),
    [SECRET_ANNOTATIONS.ipSans]: cert.ipAddresses.join(","),
    [SECRET_ANNOTATIONS.uriSans]: cert.uris.join(","),
    ...(cert.emailAddresses.length > 0
      ? { [SECRET_ANNOTATIONS.emailSans]: cert.emailAddresses.join(",") }
      : {}),
    [SECRET_ANNOTATIONS.certificateName]: certificateName,
    [SECRET_ANNOTATIONS.issuerName]: issuerRef.name,
    [SECRET_ANNOTATIONS.issuerKind]: issuerRef.kind,
    [SECRET_ANNOTATIONS.issuerGroup]: issuerRef.group,
  };
}

/** `<namespace>/<name>` of an inject-ca-from annotation, or undefined when it has no namespace. */
export function injectSourceOf(
  annotations: Readonly<Record<string, string>> | undefined,
): { namespace: string; name: string } | undefined {
  const value = annotations?.[INJECT_CA_FROM];
  const slash = value?.indexOf("/") ?? -1;
  if (value === undefined || slash <= 0 || slash === value.length - 1) return undefined;
  return { namespace: value.slice(0, slash), name: value.slice(slash + 1) };
}

const withGeneration = (generation: number | undefined) =>
  generation === undefined ? {} : { observedGeneration: generation };

/**
 * The Certificate status for a Secret that is up to date (the readiness controller's): Ready True, the
 * certificate's dates and renewal time, no Issuing condition; `revision` when this is a new issuance.
 */
export function readyCertificateStatus(
  status: JsonObject,
  certificate: { readonly spec: JsonObject; readonly generation: number | undefined },
  cert: CertificateDetails,
  now: Date,
  revision?: number,
): JsonObject {
  const conditions = setCondition(
    conditionsOf(status).filter((c) => c.type !== "Issuing"),
    {
      type: "Ready",
      status: "True",
      reason: "Ready",
      message: "Certificate is up to date and has not expired",
      ...withGeneration(certificate.generation),
    },
    now,
  );
  return {
    ...status,
    conditions,
    notBefore: timestamp(cert.notBefore),
    notAfter: timestamp(cert.notAfter),
    renewalTime: timestamp(renewalTimeOf(certificate.spec, cert.notBefore, cert.notAfter)),
    ...(revision === undefined ? {} : { revision }),
  };
}

/** The Certificate status while it waits for its issuer: Ready False and Issuing True, with the trigger. */
export function waitingCertificateStatus(
  status: JsonObject,
  generation: number | undefined,
  trigger: Trigger,
  now: Date,
): JsonObject {
  const ready = setCondition(
    conditionsOf(status),
    { type: "Ready", status: "False", ...trigger, ...withGeneration(generation) },
    now,
  );
  const conditions = setCondition(
    ready,
    { type: "Issuing", status: "True", ...trigger, ...withGeneration(generation) },
    now,
  );
  return { ...status, conditions };
}

/** The Issuer status with its Ready condition. */
export function issuerStatus(
  status: JsonObject,
  generation: number | undefined,
  ready: Omit<Condition, "lastTransitionTime" | "observedGeneration">,
  now: Date,
): JsonObject {
  return {
    ...status,
    conditions: setCondition(conditionsOf(status), { ...ready, ...withGeneration(generation) }, now),
  };
}
