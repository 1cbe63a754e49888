/**
 * A throw-away CA and one server certificate (openssl CLI), for TLS tests. Remove `dir` in an after hook.
 * The certificate names redis.example and 127.0.0.1, plus `altNames` (e.g. `IP:127.24.2.1` for a source the
 * controller must find named in it).
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly ca: string;
  /**
   * Issues a new server certificate and key (same CA) in place, as a rotated Secret would be mounted; with
   * `altNames`, for those names (besides redis.example and 127.0.0.1) instead of the first ones.
   */
  reissue(altNames?: readonly string[]): void;
  /** SHA-256 fingerprint of the current tls.crt, as Node prints it. */
  fingerprint(): string;
  /** The `stringData` of a `tlsSecret` (tls.crt, tls.key, ca.crt) holding the current certificate. */
  secretData(): Record<"tls.crt" | "tls.key" | "ca.crt", string>;
}

export function createTestCertificates(altNames: readonly string[] = []): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "redis-dr-tls-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const days = ["-days", "1"];
  run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    ...days,
    "-subj",
    "/CN=redis-dr test CA",
  );
  const names = (extra: readonly string[]) =>
    writeFileSync(
      join(dir, "ext.cnf"),
      `subjectAltName=${["DNS:redis.example", "IP:127.0.0.1", ...extra].join(",")}\n`,
    );
  names(altNames);
  const issue = (extra?: readonly string[]) => {
    if (extra !== undefined) names(extra);
    run(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "tls.key",
      "-out",
      "tls.csr",
      "-subj",
      "/CN=redis",
    );
    run(
      "x509",
      "-req",
      "-in",
      "tls.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "tls.crt",
      ...days,
      "-extfile",
      "ext.cnf",
    );
  };
  issue();
  return {
    dir,
    caFile: join(dir, "ca.crt"),
    certFile: join(dir, "tls.crt"),
    keyFile: join(dir, "tls.key"),
    ca: readFileSync(join(dir, "ca.crt"), "utf8"),
    reissue: issue,
    fingerprint: () => new X509Certificate(readFileSync(join(dir, "tls.crt"))).fingerprint256,
    secretData: () => ({
      "tls.crt": readFileSync(join(dir, "tls.crt"), "utf8"),
      "tls.key": readFileSync(join(dir, "tls.key"), "utf8"),
      "ca.crt": readFileSync(join(dir, "ca.crt"), "utf8"),
    }),
  };
}
