/**
 * The X.509 half of the cert-manager stand-in (cert-manager.ts): keys and certificates the way cert-manager's
 * selfSigned and ca issuers make them (pkg/util/pki: GenerateCSR, SignCertificate), and the reading of an
 * issued Secret that its trigger policies need. Keys come from node:crypto; certificates are built and
 * parsed with @peculiar/x509 over Node's webcrypto.
 *
 * @peculiar/x509 registers its algorithms with tsyringe, which refuses to load without a Reflect metadata
 * API (`reflect-metadata`, not a dependency here). tsyringe only stores and reads a few keys, so a minimal
 * polyfill is installed before the library is first imported (lazily, hence the dynamic import).
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
  webcrypto,
  type KeyObject,
} from "node:crypto";
import { promisify } from "node:util";
import type * as X509 from "@peculiar/x509";

const generateKeyPairAsync = promisify(generateKeyPair);

// ------------------------------------------------------------------ loading @peculiar/x509

type MetadataKey = string | symbol;
const metadata = new WeakMap<object, Map<MetadataKey, unknown>>();

/** Reflect.getMetadata/getOwnMetadata/defineMetadata: the part of `reflect-metadata` tsyringe calls. */
function installReflectMetadata(): void {
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect.getMetadata === "function") return;
  const getOwn = (key: MetadataKey, target: object): unknown => metadata.get(target)?.get(key);
  reflect.getOwnMetadata = getOwn;
  reflect.getMetadata = (key: MetadataKey, target: object): unknown => {
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      const value = getOwn(key, t);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  reflect.defineMetadata = (key: MetadataKey, value: unknown, target: object): void => {
    const own = metadata.get(target) ?? new Map<MetadataKey, unknown>();
    own.set(key, value);
    metadata.set(target, own);
  };
}

let loading: Promise<typeof X509> | undefined;

function x509(): Promise<typeof X509> {
  installReflectMetadata();
  loading ??= import("@peculiar/x509").then((module) => {
    module.cryptoProvider.set(webcrypto as unknown as Crypto);
    return module;
  });
  return loading;
}

// ------------------------------------------------------------------ what a Certificate asks for

export type KeyAlgorithm = "RSA" | "ECDSA";

export interface KeySpec {
  readonly algorithm: KeyAlgorithm;
  /** RSA modulus bits, or the ECDSA curve size (256, 384, 521). */
  readonly size: number;
  /** PKCS1 (cert-manager's default: `RSA PRIVATE KEY` / SEC1 `EC PRIVATE KEY`) or PKCS8 (`PRIVATE KEY`). */
  readonly encoding: "PKCS1" | "PKCS8";
}

/** What goes into the certificate: cert-manager's CertificateSpec fields the stand-in honours. */
export interface CertificateTemplate {
  readonly commonName: string | undefined;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly uris: readonly string[];
  readonly emailAddresses: readonly string[];
  readonly isCA: boolean;
  readonly durationMs: number;
  /** cert-manager usage names ("digital signature", "server auth", …); empty means its defaults. */
  readonly usages: readonly string[];
}

/** cert-manager's usage names → X.509 key usage bits (RFC 5280 4.2.1.3, as @peculiar/x509 numbers them). */
const KEY_USAGES: Readonly<Record<string, number>> = {
  signing: 1,
  "digital signature": 1,
  "content commitment": 2,
  "key encipherment": 4,
  "data encipherment": 8,
  "key agreement": 16,
  "cert sign": 32,
  "crl sign": 64,
  "encipher only": 128,
  "decipher only": 256,
};

const EXT_KEY_USAGES: Readonly<Record<string, string>> = {
  any: "2.5.29.37.0",
  "server auth": "1.3.6.1.5.5.7.3.1",
  "client auth": "1.3.6.1.5.5.7.3.2",
  "code signing": "1.3.6.1.5.5.7.3.3",
  "email protection": "1.3.6.1.5.5.7.3.4",
  "s/mime": "1.3.6.1.5.5.7.3.4",
  "ipsec end system": "1.3.6.1.5.5.7.3.5",
  "ipsec tunnel": "1.3.6.1.5.5.7.3.6",
  "ipsec user": "1.3.6.1.5.5.7.3.7",
  timestamping: "1.3.6.1.5.5.7.3.8",
  "ocsp signing": "1.3.6.1.5.5.7.3.9",
  "microsoft sgc": "1.3.6.1.4.1.311.10.3.3",
  "netscape sgc": "2.16.840.1.113730.4.1",
};

/** cert-manager's DefaultKeyUsages(): what a Certificate without `usages` gets. */
const DEFAULT_USAGES = ["digital signature", "key encipherment"];

/**
 * Key usage bits and extended key usage OIDs for a template (KeyUsagesForCertificateOrCertificateRequest:
 * a CA always gets `cert sign`). Throws on a name cert-manager does not know.
 */
export function usageExtensions(template: Pick<CertificateTemplate, "usages" | "isCA">): {
  keyUsage: number;
  extKeyUsages: string[];
} {
  let keyUsage = template.isCA ? KEY_USAGES["cert sign"]! : 0;
  const extKeyUsages: string[] = [];
  const unknown: string[] = [];
  for (const usage of template.usages.length > 0 ? template.usages : DEFAULT_USAGES) {
    const bit = KEY_USAGES[usage];
    const oid = EXT_KEY_USAGES[usage];
    if (bit !== undefined) keyUsage |= bit;
    else if (oid !== undefined) {
      if (!extKeyUsages.includes(oid)) extKeyUsages.push(oid);
    } else unknown.push(usage);
  }
  if (unknown.length > 0) throw new Error(`unknown key usages: ${unknown.join(", ")}`);
  return { keyUsage, extKeyUsages };
}

// ------------------------------------------------------------------ keys

const CURVES: Readonly<Record<number, { node: string; webcrypto: string; hash: string }>> = {
  256: { node: "prime256v1", webcrypto: "P-256", hash: "SHA-256" },
  384: { node: "secp384r1", webcrypto: "P-384", hash: "SHA-384" },
  521: { node: "secp521r1", webcrypto: "P-521", hash: "SHA-512" },
};

/** The key's algorithm and size, or undefined for a key type cert-manager's CA issuer cannot use. */
export function describeKey(key: KeyObject): { algorithm: KeyAlgorithm; size: number } | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "rsa" && details.modulusLength !== undefined)
    return { algorithm: "RSA", size: details.modulusLength };
  if (key.asymmetricKeyType === "ec") {
    const size = Object.entries(CURVES).find(([, c]) => c.node === details.namedCurve)?.[0];
    if (size !== undefined) return { algorithm: "ECDSA", size: Number(size) };
  }
  return undefined;
}

export async function generatePrivateKey(spec: KeySpec): Promise<KeyObject> {
  if (spec.algorithm === "RSA") {
    return (await generateKeyPairAsync("rsa", { modulusLength: spec.size })).privateKey;
  }
  const curve = CURVES[spec.size];
  if (curve === undefined) throw new Error(`unsupported ECDSA key size ${spec.size}`);
  return (await generateKeyPairAsync("ec", { namedCurve: curve.node })).privateKey;
}

/** The PEM cert-manager writes as tls.key for the spec's encoding. */
export function encodePrivateKey(key: KeyObject, encoding: KeySpec["encoding"]): string {
  if (encoding === "PKCS8") return key.export({ type: "pkcs8", format: "pem" }).toString();
  const type = key.asymmetricKeyType === "rsa" ? "pkcs1" : "sec1";
  return key.export({ type, format: "pem" }).toString();
}

/**
 * The webcrypto algorithm that signs with this key, as cert-manager's signatureAlgorithmFromPublicKey picks
 * it: ECDSA's hash follows the curve, RSA's follows the modulus (≥ 4096 SHA-512, ≥ 3072 SHA-384).
 */
function signingAlgorithm(key: KeyObject): RsaHashedImportParams | EcKeyImportParams {
  const described = describeKey(key);
  if (described === undefined) throw new Error(`cannot sign with a ${key.asymmetricKeyType ?? "?"} key`);
  if (described.algorithm === "RSA") {
    const hash = described.size >= 4096 ? "SHA-512" : described.size >= 3072 ? "SHA-384" : "SHA-256";
    return { name: "RSASSA-PKCS1-v1_5", hash };
  }
  const curve = CURVES[described.size]!;
  return { name: "ECDSA", namedCurve: curve.webcrypto, hash: curve.hash } as EcKeyImportParams;
}

async function toCryptoKeys(
  key: KeyObject,
): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey; algorithm: Algorithm }> {
  const algorithm = signingAlgorithm(key);
  const subtle = webcrypto.subtle as unknown as SubtleCrypto;
  const privateKey = await subtle.importKey(
    "pkcs8",
    key.export({ type: "pkcs8", format: "der" }),
    algorithm,
    false,
    ["sign"],
  );
  const publicKey = await subtle.importKey(
    "spki",
    createPublicKey(key).export({ type: "spki", format: "der" }),
    algorithm,
    true,
    ["verify"],
  );
  return { privateKey, publicKey, algorithm };
}

// ------------------------------------------------------------------ reading certificates

export interface CertificateDetails {
  readonly commonName: string | undefined;
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
  readonly uris: string[];
  readonly emailAddresses: string[];
  readonly isCA: boolean;
  readonly keyUsage: number;
  readonly extKeyUsages: string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Lowercase hex. */
  readonly serial: string;
  /** DER SubjectPublicKeyInfo, to compare with a private key's. */
  readonly publicKeySpki: Buffer;
}

/** The PEM blocks of a bundle, in order. */
export function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The first certificate of a PEM bundle; throws when there is none or it does not parse. */
export async function readCertificate(pem: string): Promise<CertificateDetails> {
  const lib = await x509();
  const first = pemBlocks(pem)[0];
  if (first === undefined) throw new Error("no PEM certificate");
  const cert = new lib.X509Certificate(first);
  const basic = cert.getExtension(lib.BasicConstraintsExtension);
  const usages = cert.getExtension(lib.KeyUsagesExtension);
  const extended = cert.getExtension(lib.ExtendedKeyUsageExtension);
  const san = cert.getExtension(lib.SubjectAlternativeNameExtension);
  const names = (type: X509.GeneralNameType) =>
    (san?.names.items ?? []).filter((n) => n.type === type).map((n) => n.value);
  return {
    commonName: cert.subjectName.getField("CN")[0],
    dnsNames: names("dns"),
    ipAddresses: names("ip"),
    uris: names("url"),
    emailAddresses: names("email"),
    isCA: basic?.ca ?? false,
    keyUsage: usages?.usages ?? 0,
    extKeyUsages: Array.from(extended?.usages ?? [], String),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serial: cert.serialNumber.toLowerCase(),
    publicKeySpki: Buffer.from(cert.publicKey.rawData),
  };
}

/** Whether the private key (PEM, any encoding) is the certificate's. */
export function keyMatchesCertificate(key: KeyObject, cert: CertificateDetails): boolean {
  return createPublicKey(key).export({ type: "spki", format: "der" }).equals(cert.publicKeySpki);
}

export function parsePrivateKey(pem: string): KeyObject {
  return createPrivateKey(pem);
}

// ------------------------------------------------------------------ issuing

/** Who signs: the new key itself (selfSigned issuer), or a CA's certificate and key (ca issuer). */
export type SigningAuthority =
  | { readonly kind: "self" }
  | {
      readonly kind: "ca";
      /** The CA Secret's tls.crt: the CA certificate first, then its own chain. */
      readonly chainPem: string;
      readonly key: KeyObject;
      /** The CA Secret's ca.crt, when it has one. */
      readonly caPem: string | undefined;
    };

export interface IssuedCertificate {
  /** tls.crt: the certificate, then the intermediates (never a self-signed root). */
  readonly certPem: string;
  /** ca.crt: the root of the chain (the certificate itself for a self-signed one). */
  readonly caPem: string;
  readonly details: CertificateDetails;
}

/** 128 random bits, positive, like cert-manager's serial numbers. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString("hex");
}

/**
 * Signs a certificate for `key` per the template (cert-manager's GenerateCSR + CertificateTemplateFromCSR +
 * SignCertificate): subject CN only, SANs (critical when the subject is empty), basicConstraints (critical,
 * `CA:TRUE` without a path length for a CA), key usage (critical), extended key usage, a subject key
 * identifier for a CA and, under a CA, its authority key identifier. The issuer name is the CA's subject byte for
 * byte, so Go's chain building (the API server's) matches them.
 */
export async function issueCertificate(
  template: CertificateTemplate,
  key: KeyObject,
  authority: SigningAuthority,
  now: Date,
): Promise<IssuedCertificate> {
  const lib = await x509();
  const subject = await toCryptoKeys(key);
  const signer = authority.kind === "self" ? subject : await toCryptoKeys(authority.key);
  const caCerts =
    authority.kind === "self"
      ? []
      : [...pemBlocks(authority.chainPem), ...pemBlocks(authority.caPem ?? "")].map(
          (pem) => new lib.X509Certificate(pem),
        );
  const issuerCert = caCerts[0];
  if (authority.kind === "ca" && issuerCert === undefined)
    throw new Error("the CA Secret has no certificate");

  const authorityKeyId = issuerCert?.getExtension(lib.SubjectKeyIdentifierExtension)?.keyId;
  const { keyUsage, extKeyUsages } = usageExtensions(template);
  const subjectName = new lib.Name(template.commonName ? [{ CN: [template.commonName] }] : []);
  const sans: X509.JsonGeneralName[] = [
    ...template.dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...template.emailAddresses.map((value) => ({ type: "email" as const, value })),
    ...template.ipAddresses.map((value) => ({ type: "ip" as const, value })),
    ...template.uris.map((value) => ({ type: "url" as const, value })),
  ];
  const extensions: X509.Extension[] = [
    new lib.KeyUsagesExtension(keyUsage, true),
    ...(extKeyUsages.length > 0 ? [new lib.ExtendedKeyUsageExtension(extKeyUsages, false)] : []),
    new lib.BasicConstraintsExtension(template.isCA, undefined, true),
    // Go's CreateCertificate generates a subject key identifier for CAs only.
    ...(template.isCA ? [await lib.SubjectKeyIdentifierExtension.create(subject.publicKey)] : []),
    // Go copies the CA's subject key identifier; a CA without one gets no authority key identifier.
    ...(authorityKeyId ? [new lib.AuthorityKeyIdentifierExtension(authorityKeyId)] : []),
    ...(sans.length > 0
      ? [new lib.SubjectAlternativeNameExtension(sans, template.commonName === undefined)]
      : []),
  ];
  // X.509 validity times have whole seconds.
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: subjectName,
    issuer: issuerCert ? new lib.Name(issuerCert.subjectName.toArrayBuffer()) : subjectName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + template.durationMs),
    publicKey: subject.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: signer.algorithm,
    extensions,
  });
  const certPem = cert.toString("pem");
  // ParseSingleCertificateChain: the chain's top is ca.crt; what lies between goes into tls.crt.
  const isSelfSigned = (c: X509.X509Certificate) => c.subject === c.issuer;
  const intermediates = caCerts.filter((c, i) => !isSelfSigned(c) && i < caCerts.length - 1);
  const root = caCerts[caCerts.length - 1];
  return {
    certPem: [certPem, ...intermediates.map((c) => c.toString("pem"))].join("\n") + "\n",
    caPem: (root ?? cert).toString("pem") + "\n",
    details: await readCertificate(certPem),
  };
}
