/**
 * A throw-away CA and one server certificate (openssl CLI), for TLS tests. Remove `dir` in an after hook.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly ca: string;
}

export function createTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "redis-dr-tls-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
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
    "-days",
    "1",
    "-subj",
    "/CN=redis-dr test CA",
  );
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=redis");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=DNS:redis.example,IP:127.0.0.1\n");
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
    "-days",
    "1",
    "-extfile",
    "ext.cnf",
  );
  return {
    dir,
    caFile: join(dir, "ca.crt"),
    certFile: join(dir, "tls.crt"),
    keyFile: join(dir, "tls.key"),
    ca: readFileSync(join(dir, "ca.crt"), "utf8"),
  };
}
