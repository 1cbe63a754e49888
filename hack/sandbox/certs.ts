/**
 * Certificates for the sandbox, made with the `openssl` CLI: a CA (what cert-manager's CA Issuer would hold)
 * and serving certificates signed by it, written as cert-manager writes a TLS Secret: `tls.crt`, `tls.key`,
 * `ca.crt`.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

function openssl(args: string[], cwd: string): void {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (result.status !== 0)
    throw new Error(`openssl ${args[0] ?? ""} failed: ${result.stderr || String(result.error)}`);
}

export interface CertificateAuthority {
  dir: string;
  certPem: string;
}

export function createCa(dir: string, commonName = "redis-dr-sandbox-ca"): CertificateAuthority {
  mkdirSync(dir, { recursive: true });
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "3650",
      "-subj",
      `/CN=${commonName}`,
    ],
    dir,
  );
  return { dir, certPem: readFileSync(join(dir, "ca.crt"), "utf8") };
}

/** A serving certificate for `dnsNames` and `ips`, written to `outDir` as tls.crt, tls.key and ca.crt. */
export function issueServingCertificate(
  ca: CertificateAuthority,
  outDir: string,
  dnsNames: string[],
  ips: string[] = [],
): void {
  issueCertificate(ca, outDir, {
    subject: `/CN=${dnsNames[0] ?? ips[0] ?? "localhost"}`,
    dnsNames,
    ips,
    usage: "serverAuth",
  });
}

/**
 * A client certificate: Kubernetes' x509 authenticator takes the user from the CN and the groups from the
 * O fields (e.g. CN=system:node:n1, O=system:nodes).
 */
export function issueClientCertificate(
  ca: CertificateAuthority,
  outDir: string,
  user: string,
  groups: string[] = [],
): void {
  const subject = ["", ...groups.map((group) => `O=${group}`), `CN=${user}`].join("/");
  issueCertificate(ca, outDir, { subject, dnsNames: [], ips: [], usage: "clientAuth" });
}

interface CertificateRequest {
  subject: string;
  dnsNames: string[];
  ips: string[];
  usage: "serverAuth" | "clientAuth";
}

function issueCertificate(ca: CertificateAuthority, outDir: string, request: CertificateRequest): void {
  mkdirSync(outDir, { recursive: true });
  const san = [...request.dnsNames.map((n) => `DNS:${n}`), ...request.ips.map((ip) => `IP:${ip}`)].join(",");
  writeFileSync(
    join(outDir, "ext.cnf"),
    (san ? `subjectAltName=${san}\n` : "") +
      `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=${request.usage}\n`,
  );
  openssl(
    [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "tls.key",
      "-out",
      "tls.csr",
      "-subj",
      request.subject,
    ],
    outDir,
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "tls.csr",
      "-CA",
      join(ca.dir, "ca.crt"),
      "-CAkey",
      join(ca.dir, "ca.key"),
      "-CAcreateserial",
      "-days",
      "365",
      "-out",
      "tls.crt",
      "-extfile",
      "ext.cnf",
    ],
    outDir,
  );
  writeFileSync(join(outDir, "ca.crt"), ca.certPem);
}
