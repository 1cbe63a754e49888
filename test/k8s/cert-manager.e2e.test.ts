/**
 * The cert-manager stand-in (hack/k8s/cert-manager.ts) against the sandbox API server with cert-manager's
 * real CRDs (v1.21.2, from the Go module cache): the Issuers, Certificates and webhook configurations of
 * `kubectl kustomize manifests` get a CA, a serving certificate that chains to it, Ready statuses and the
 * CA injected as caBundle; a deleted Secret is issued again; a ca Issuer waits for its Secret. And the
 * stand-in's decisions on their own: when an existing Secret is issued again (cert-manager's trigger policies).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { promisify } from "node:util";
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Secret,
} from "@kubernetes/client-node";
import pino from "pino";
import YAML from "yaml";
import { startCertManagerStandIn, type CertManagerStandIn } from "../../hack/k8s/cert-manager.ts";
import {
  generatePrivateKey,
  issueCertificate,
  readCertificate,
  type CertificateDetails,
} from "../../hack/k8s/cert-manager-pki.ts";
import {
  issuanceDecision,
  issuerRefOf,
  parseGoDuration,
  renewalTimeOf,
  requestedOf,
  secretAnnotationsFor,
  type IssuedSecret,
  type JsonObject,
} from "../../hack/k8s/cert-manager-policies.ts";
import { upstreamCrdFiles } from "../../hack/k8s/upstream-crds.ts";
import { REPO_ROOT } from "../../hack/sandbox/sandbox.ts";
import { startSandbox, waitFor, type TestSandbox } from "../../hack/sandbox/testing.ts";

/** 127.63.0.0/16: this file's sandbox. */
const RANGE = 63;
const NS = "redis-dr-system";
const SERVING_SECRET = "redis-dr-webhook-tls";
const CA_SECRET = "redis-dr-ca";
const DNS_NAMES = [
  "redis-dr-webhook.redis-dr-system.svc",
  "redis-dr-webhook.redis-dr-system.svc.cluster.local",
];
const CM = { group: "cert-manager.io", version: "v1" };
const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  [field: string]: unknown;
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

let sb: TestSandbox;
let standIn: CertManagerStandIn | undefined;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let admission: AdmissionregistrationV1Api;
let manifests: Manifest[];
const logLines: Record<string, unknown>[] = [];
const rawLog: string[] = [];

before(async () => {
  const rendered = await promisify(execFile)("kubectl", ["kustomize", "manifests"], {
    cwd: REPO_ROOT,
    maxBuffer: 16 << 20,
  });
  manifests = YAML.parseAllDocuments(rendered.stdout).map((d) => d.toJS() as Manifest);
  sb = await startSandbox({ range: RANGE, crdFiles: await upstreamCrdFiles() });
  core = sb.kubeConfig.makeApiClient(CoreV1Api);
  custom = sb.kubeConfig.makeApiClient(CustomObjectsApi);
  admission = sb.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const logger = pino(
    { level: "info" },
    {
      write: (line: string) => {
        rawLog.push(line);
        logLines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  standIn = await startCertManagerStandIn({ kubeconfig: sb.kubeConfig, logger });
  for (const object of manifests.filter((m) =>
    ["Issuer", "Certificate", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"].includes(
      m.kind,
    ),
  ))
    await create(object);
});

after(async () => {
  await standIn?.stop();
  await sb?.stop();
});

async function create(object: Manifest): Promise<void> {
  if (object.kind === "ValidatingWebhookConfiguration")
    await admission.createValidatingWebhookConfiguration({ body: object });
  else if (object.kind === "MutatingWebhookConfiguration")
    await admission.createMutatingWebhookConfiguration({ body: object });
  else
    await custom.createNamespacedCustomObject({
      ...CM,
      namespace: object.metadata.namespace ?? "default",
      plural: `${object.kind.toLowerCase()}s`,
      body: object,
    });
}

const manifest = (kind: string, name: string): Manifest => {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(found, `kubectl kustomize manifests has no ${kind} ${name}`);
  return structuredClone(found);
};

async function readSecret(name: string, namespace = NS): Promise<V1Secret | undefined> {
  return core.readNamespacedSecret({ name, namespace }).catch(() => undefined);
}

const pem = (secret: V1Secret, key: string): string => {
  const value = secret.data?.[key];
  assert.ok(value, `Secret ${secret.metadata?.name ?? ""} has no ${key}`);
  return Buffer.from(value, "base64").toString("utf8");
};

async function statusOf(plural: string, name: string, namespace = NS): Promise<Record<string, unknown>> {
  const object = (await custom.getNamespacedCustomObject({ ...CM, namespace, plural, name })) as {
    status?: Record<string, unknown>;
  };
  return object.status ?? {};
}

async function readyOf(plural: string, name: string, namespace = NS): Promise<Condition | undefined> {
  const conditions = (await statusOf(plural, name, namespace)).conditions as Condition[] | undefined;
  return conditions?.find((c) => c.type === "Ready");
}

/** The DER bytes of a certificate's tbsCertificate issuer and subject Names, as Go's chain building compares them. */
function rawNames(cert: X509Certificate): { issuer: Buffer; subject: Buffer } {
  const der = cert.raw;
  const element = (at: number) => {
    let length = der[at + 1]!;
    let header = 2;
    if (length & 0x80) {
      const bytes = length & 0x7f;
      length = 0;
      for (let i = 0; i < bytes; i++) length = (length << 8) | der[at + 2 + i]!;
      header += bytes;
    }
    return { tag: der[at]!, start: at, content: at + header, end: at + header + length };
  };
  const tbs = element(element(0).content);
  const fields: { tag: number; start: number; end: number }[] = [];
  for (let at = tbs.content; at < tbs.end; at = fields[fields.length - 1]!.end) fields.push(element(at));
  const [, , issuer, , subject] = fields[0]!.tag === 0xa0 ? fields.slice(1) : fields;
  return {
    issuer: der.subarray(issuer!.start, issuer!.end),
    subject: der.subarray(subject!.start, subject!.end),
  };
}

function assertChainsTo(leafPem: string, caPem: string): void {
  const leaf = new X509Certificate(leafPem);
  const ca = new X509Certificate(caPem);
  assert.equal(leaf.verify(ca.publicKey), true, "the CA's key verifies the certificate's signature");
  assert.equal(leaf.checkIssued(ca), true);
  assert.deepEqual(rawNames(leaf).issuer, rawNames(ca).subject, "issuer bytes equal the CA's subject bytes");
}

describe("the webhook's certificates from kubectl kustomize manifests", () => {
  test("the CA Secret holds a self-signed CA certificate (basicConstraints CA:TRUE), ca.crt itself", async () => {
    const secret = await waitFor(() => readSecret(CA_SECRET), { what: "the CA Secret", timeoutMs: 60_000 });
    const ca = new X509Certificate(pem(secret, "tls.crt"));
    assert.equal(ca.ca, true);
    assert.equal(ca.subject, "CN=redis-dr-ca");
    assert.equal(ca.verify(ca.publicKey), true);
    assert.equal(pem(secret, "ca.crt"), pem(secret, "tls.crt"));
    assert.equal(secret.type, "kubernetes.io/tls");
    const key = createPrivateKey(pem(secret, "tls.key"));
    assert.deepEqual([key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve], ["ec", "prime256v1"]);
    // 43800h, as spec.duration says.
    assert.equal(Date.parse(ca.validTo) - Date.parse(ca.validFrom), 43800 * 3600 * 1000);
  });

  test("the serving Secret: exactly the two DNS names, ECDSA P-256, chains to ca.crt, which is the CA", async () => {
    const secret = await waitFor(() => readSecret(SERVING_SECRET), {
      what: "the serving Secret",
      timeoutMs: 60_000,
    });
    const caSecret = await readSecret(CA_SECRET);
    assert.ok(caSecret);
    const cert = new X509Certificate(pem(secret, "tls.crt"));
    assert.equal(cert.subjectAltName, DNS_NAMES.map((n) => `DNS:${n}`).join(", "));
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1"]); // extended key usage: server auth
    assert.deepEqual(
      [cert.publicKey.asymmetricKeyType, cert.publicKey.asymmetricKeyDetails?.namedCurve],
      ["ec", "prime256v1"],
    );
    const key = createPrivateKey(pem(secret, "tls.key"));
    assert.deepEqual(
      createPublicKey(key).export({ type: "spki", format: "der" }),
      cert.publicKey.export({ type: "spki", format: "der" }),
      "tls.key is the certificate's key",
    );
    assert.equal(pem(secret, "ca.crt"), pem(caSecret, "tls.crt"));
    assertChainsTo(pem(secret, "tls.crt"), pem(secret, "ca.crt"));
    assert.equal(secret.type, "kubernetes.io/tls");
    assert.deepEqual(secret.metadata?.annotations, {
      "cert-manager.io/certificate-name": "redis-dr-webhook",
      "cert-manager.io/issuer-name": "redis-dr-ca",
      "cert-manager.io/issuer-kind": "Issuer",
      "cert-manager.io/issuer-group": "cert-manager.io",
      "cert-manager.io/common-name": "",
      "cert-manager.io/alt-names": DNS_NAMES.join(","),
      "cert-manager.io/ip-sans": "",
      "cert-manager.io/uri-sans": "",
    });
    assert.deepEqual(secret.metadata?.labels, { "controller.cert-manager.io/fao": "true" });
  });

  test("both webhook configurations carry the CA as caBundle", async () => {
    const caSecret = await waitFor(() => readSecret(CA_SECRET), { what: "the CA Secret" });
    const expected = caSecret.data?.["tls.crt"];
    const bundles = async () =>
      [
        ...((await admission.readValidatingWebhookConfiguration({ name: "redis-dr-validating" })).webhooks ??
          []),
        ...((await admission.readMutatingWebhookConfiguration({ name: "redis-dr-mutating" })).webhooks ?? []),
      ].map((w) => w.clientConfig.caBundle);
    await waitFor(async () => (await bundles()).every((b) => b === expected), {
      what: "caBundle in both configurations",
      timeoutMs: 30_000,
    });
    assert.deepEqual(await bundles(), [expected, expected]);
  });

  test("Issuers and Certificates report Ready True; the Certificate's status has its dates and revision", async () => {
    await waitFor(async () => (await readyOf("certificates", "redis-dr-webhook"))?.status === "True", {
      what: "the serving Certificate Ready",
    });
    assert.deepEqual(
      await Promise.all([
        readyOf("issuers", "redis-dr-selfsigned"),
        readyOf("issuers", "redis-dr-ca"),
        readyOf("certificates", "redis-dr-ca"),
        readyOf("certificates", "redis-dr-webhook"),
      ]).then((conditions) => conditions.map((c) => c && [c.status, c.reason, c.message])),
      [
        ["True", "IsReady", ""],
        ["True", "KeyPairVerified", "Signing CA verified"],
        ["True", "Ready", "Certificate is up to date and has not expired"],
        ["True", "Ready", "Certificate is up to date and has not expired"],
      ],
    );
    const status = await statusOf("certificates", "redis-dr-webhook");
    const cert = new X509Certificate(pem((await readSecret(SERVING_SECRET))!, "tls.crt"));
    const notAfter = new Date(cert.validTo);
    assert.equal(status.notBefore, new Date(cert.validFrom).toISOString().replace(".000Z", "Z"));
    assert.equal(status.notAfter, notAfter.toISOString().replace(".000Z", "Z"));
    // renewBefore 720h.
    assert.equal(
      status.renewalTime,
      new Date(notAfter.getTime() - 720 * 3600 * 1000).toISOString().replace(".000Z", "Z"),
    );
    assert.equal(status.revision, 1);
  });

  test("a deleted serving Secret is issued again: a new serial and key, same CA, revision 2", async () => {
    const before = await waitFor(() => readSecret(SERVING_SECRET), { what: "the serving Secret" });
    const oldCert = new X509Certificate(pem(before, "tls.crt"));
    await core.deleteNamespacedSecret({ name: SERVING_SECRET, namespace: NS });
    const after = await waitFor(
      async () => {
        const secret = await readSecret(SERVING_SECRET);
        return secret?.metadata?.uid !== before.metadata?.uid && secret;
      },
      { what: "the serving Secret issued again", timeoutMs: 30_000 },
    );
    const cert = new X509Certificate(pem(after, "tls.crt"));
    assert.notEqual(cert.serialNumber, oldCert.serialNumber);
    assert.notEqual(pem(after, "tls.key"), pem(before, "tls.key")); // rotationPolicy: Always
    assert.equal(pem(after, "ca.crt"), pem(before, "ca.crt"));
    assert.equal(cert.subjectAltName, oldCert.subjectAltName);
    assertChainsTo(pem(after, "tls.crt"), pem(after, "ca.crt"));
    await waitFor(async () => (await statusOf("certificates", "redis-dr-webhook")).revision === 2, {
      what: "revision 2",
    });
  });

  test("a webhook configuration applied again without caBundle gets it injected again", async () => {
    const expected = (await readSecret(CA_SECRET))?.data?.["tls.crt"];
    const current = await admission.readValidatingWebhookConfiguration({ name: "redis-dr-validating" });
    const fresh = manifest("ValidatingWebhookConfiguration", "redis-dr-validating");
    await admission.replaceValidatingWebhookConfiguration({
      name: "redis-dr-validating",
      body: { ...fresh, metadata: { ...fresh.metadata, resourceVersion: current.metadata?.resourceVersion } },
    });
    await waitFor(
      async () =>
        (await admission.readValidatingWebhookConfiguration({ name: "redis-dr-validating" })).webhooks?.[0]
          ?.clientConfig.caBundle === expected,
      { what: "caBundle injected again", timeoutMs: 30_000 },
    );
  });
});

describe("a ca Issuer whose Secret does not exist yet", () => {
  const ns = "late-ca";
  const issuer = {
    apiVersion: "cert-manager.io/v1",
    kind: "Issuer",
    metadata: { name: "late", namespace: ns },
  };

  test("waits (Issuer and Certificate Ready False, no Secret), then issues once the CA Secret appears", async () => {
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await create({ ...issuer, spec: { ca: { secretName: "late-ca" } } });
    await create({
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: "late-leaf", namespace: ns },
      spec: {
        secretName: "late-leaf-tls",
        commonName: "late.example",
        dnsNames: ["late.example"],
        privateKey: { algorithm: "RSA", size: 2048 },
        issuerRef: { name: "late" },
      },
    });
    const issuerReady = await waitFor(
      async () => {
        const ready = await readyOf("issuers", "late", ns);
        return ready?.status === "False" && ready;
      },
      { what: "Issuer Ready False" },
    );
    assert.deepEqual(
      [issuerReady.reason, issuerReady.message],
      ["ErrGetKeyPair", 'Error getting keypair for CA issuer: secrets "late-ca" not found'],
    );
    const certReady = await waitFor(
      async () => {
        const ready = await readyOf("certificates", "late-leaf", ns);
        return ready?.status === "False" && ready;
      },
      { what: "Certificate Ready False" },
    );
    assert.deepEqual(
      [certReady.reason, certReady.message],
      ["DoesNotExist", "Issuing certificate as Secret does not exist"],
    );
    assert.equal(await readSecret("late-leaf-tls", ns), undefined);

    // The CA arrives: a copy of the manifests' CA.
    const ca = await waitFor(() => readSecret(CA_SECRET), { what: "the CA Secret" });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "late-ca" }, type: "kubernetes.io/tls", data: ca.data },
    });
    const leaf = await waitFor(() => readSecret("late-leaf-tls", ns), {
      what: "the leaf issued after the CA appeared",
      timeoutMs: 30_000,
    });
    assert.deepEqual([(await readyOf("issuers", "late", ns))?.reason], ["KeyPairVerified"]);
    const cert = new X509Certificate(pem(leaf, "tls.crt"));
    assert.equal(cert.subject, "CN=late.example");
    assert.equal(cert.publicKey.asymmetricKeyType, "rsa");
    assert.equal(pem(leaf, "ca.crt"), pem(ca, "tls.crt"));
    assertChainsTo(pem(leaf, "tls.crt"), pem(ca, "tls.crt"));
    assert.match(pem(leaf, "tls.key"), /^-----BEGIN RSA PRIVATE KEY-----/); // PKCS1, cert-manager's default
    await waitFor(async () => (await readyOf("certificates", "late-leaf", ns))?.status === "True", {
      what: "Certificate Ready True",
    });
  });

  test("a spec change (another DNS name) issues again with the new names", async () => {
    await custom.patchNamespacedCustomObject(
      {
        ...CM,
        namespace: ns,
        plural: "certificates",
        name: "late-leaf",
        body: { spec: { dnsNames: ["late.example", "later.example"] } },
      },
      merge,
    );
    const cert = await waitFor(
      async () => {
        const secret = await readSecret("late-leaf-tls", ns);
        const issued = secret && new X509Certificate(pem(secret, "tls.crt"));
        return issued?.subjectAltName?.includes("later.example") && issued;
      },
      { what: "the certificate issued for the new names", timeoutMs: 30_000 },
    );
    assert.equal(cert.subjectAltName, "DNS:late.example, DNS:later.example");
  });
});

describe("logs", () => {
  test("one line per issued certificate and per injection, never key material", () => {
    const issued = logLines.filter((l) => l.msg === "issued certificate").map((l) => l.certificate);
    assert.deepEqual([...issued].sort(), [
      "late-ca/late-leaf",
      "late-ca/late-leaf",
      "redis-dr-system/redis-dr-ca",
      "redis-dr-system/redis-dr-webhook",
      "redis-dr-system/redis-dr-webhook",
    ]);
    const injected = logLines.filter((l) => l.msg === "injected CA bundle").map((l) => l.target);
    assert.deepEqual([...injected].sort(), [
      "MutatingWebhookConfiguration/redis-dr-mutating",
      "ValidatingWebhookConfiguration/redis-dr-validating",
      "ValidatingWebhookConfiguration/redis-dr-validating",
    ]);
    const all = rawLog.join("");
    assert.doesNotMatch(all, /PRIVATE KEY|BEGIN CERTIFICATE/);
  });
});

describe("issuance decisions (cert-manager's trigger policies)", () => {
  const spec = {
    secretName: "leaf-tls",
    dnsNames: ["a.example"],
    duration: "2160h",
    renewBefore: "720h",
    privateKey: { algorithm: "ECDSA", size: 256 },
    usages: ["server auth", "digital signature"],
    issuerRef: { name: "ca", kind: "Issuer" },
  };
  const issuerRef = issuerRefOf(spec)!;
  const issuedAt = new Date("2026-01-01T00:00:00Z");
  let secret: IssuedSecret;
  let cert: CertificateDetails;
  let otherKey: Awaited<ReturnType<typeof generatePrivateKey>>;

  before(async () => {
    const { key: keySpec, template } = requestedOf(spec);
    const key = await generatePrivateKey(keySpec);
    otherKey = await generatePrivateKey(keySpec);
    const issued = await issueCertificate(template, key, { kind: "self" }, issuedAt);
    cert = await readCertificate(issued.certPem);
    secret = {
      annotations: secretAnnotationsFor("leaf", issuerRef, cert),
      hasKey: true,
      hasCert: true,
      key,
      cert,
    };
  });

  const decide = (changes: { spec?: JsonObject; secret?: Partial<IssuedSecret> | null; now?: Date } = {}) => {
    const decision = issuanceDecision(
      {
        certificateName: "leaf",
        spec: { ...spec, ...changes.spec },
        issuerRef: issuerRefOf({ ...spec, ...changes.spec })!,
        secret: changes.secret === null ? undefined : { ...secret, ...changes.secret },
      },
      changes.now ?? new Date(issuedAt.getTime() + 3600_000),
    );
    return decision.kind === "issue" ? [decision.trigger.reason, decision.trigger.message] : decision.kind;
  };

  const cases: { name: string; changes: () => Parameters<typeof decide>[0]; expected: unknown }[] = [
    { name: "an up-to-date Secret is left alone", changes: () => ({}), expected: "up-to-date" },
    {
      name: "no Secret",
      changes: () => ({ secret: null }),
      expected: ["DoesNotExist", "Issuing certificate as Secret does not exist"],
    },
    {
      name: "no tls.key",
      changes: () => ({ secret: { hasKey: false, key: undefined } }),
      expected: ["MissingData", "Issuing certificate as Secret does not contain a private key"],
    },
    {
      name: "a key that is not the certificate's",
      changes: () => ({ secret: { key: otherKey } }),
      expected: [
        "InvalidKeyPair",
        "Issuing certificate as Secret contains a private key that does not match the certificate",
      ],
    },
    {
      name: "issued by another Issuer",
      changes: () => ({ spec: { issuerRef: { name: "other-ca" } } }),
      expected: [
        "IncorrectIssuer",
        'Issuing certificate as Secret was previously issued by "Issuer.cert-manager.io/ca"',
      ],
    },
    {
      name: "issued for another Certificate",
      changes: () => ({
        secret: { annotations: { ...secret.annotations, "cert-manager.io/certificate-name": "other" } },
      }),
      expected: [
        "IncorrectCertificate",
        'Secret was issued for "other". If this message is not transient, you might have two conflicting Certificates pointing to the same secret.',
      ],
    },
    {
      name: "the spec now asks for an RSA key",
      changes: () => ({ spec: { privateKey: { algorithm: "RSA" } } }),
      expected: [
        "SecretMismatch",
        "Existing private key is not up to date for spec: [spec.privateKey.algorithm]",
      ],
    },
    {
      name: "the spec now asks for a P-384 key",
      changes: () => ({ spec: { privateKey: { algorithm: "ECDSA", size: 384 } } }),
      expected: ["SecretMismatch", "Existing private key is not up to date for spec: [spec.privateKey.size]"],
    },
    {
      name: "another DNS name, a CA, other usages and another duration",
      changes: () => ({
        spec: { dnsNames: ["a.example", "b.example"], isCA: true, usages: ["client auth"], duration: "24h" },
      }),
      expected: [
        "SecretMismatch",
        "Issuing certificate as Existing issued Secret is not up to date for spec: [spec.dnsNames spec.isCA spec.usages spec.duration]",
      ],
    },
    {
      name: "the renewal time (notAfter - renewBefore) is reached",
      changes: () => ({ now: new Date(cert.notAfter.getTime() - 720 * 3600_000) }),
      expected: ["Renewing", "Renewing certificate as renewal was scheduled at 2026-03-02T00:00:00.000Z"],
    },
  ];
  for (const { name, changes, expected } of cases)
    test(name, () => assert.deepEqual(decide(changes()), expected));

  test("Go durations and the default renewal time (a third of the lifetime before notAfter)", () => {
    assert.deepEqual(["43800h", "1h30m", "8760h0m0s", "90s", "1.5h", "0", "5d", ""].map(parseGoDuration), [
      43800 * 3600_000,
      5400_000,
      8760 * 3600_000,
      90_000,
      5400_000,
      0,
      undefined,
      undefined,
    ]);
    const notBefore = new Date("2026-01-01T00:00:00Z");
    const notAfter = new Date("2026-01-31T00:00:00Z");
    assert.equal(renewalTimeOf({}, notBefore, notAfter).toISOString(), "2026-01-21T00:00:00.000Z");
    assert.equal(
      renewalTimeOf({ renewBeforePercentage: 50 }, notBefore, notAfter).toISOString(),
      "2026-01-16T00:00:00.000Z",
    );
    // A renewBefore longer than the lifetime falls back to the default.
    assert.equal(
      renewalTimeOf({ renewBefore: "8760h" }, notBefore, notAfter).toISOString(),
      "2026-01-21T00:00:00.000Z",
    );
  });
});
