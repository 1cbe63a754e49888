/**
 * A throwaway CA and serving certificates for real-TLS tests, made with the openssl CLI (ECDSA P-256).
 * (@peculiar/x509 would need a Reflect metadata polyfill; openssl needs nothing.)
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TestCa {
  readonly certPem: string;
  /**
   * A serving certificate for `commonName`, valid for 127.0.0.1 and localhost (or, with `clientAuth`, a client
   * certificate, as an API server presents to webhooks); `serial` in lowercase hex.
   */
  issue(
    commonName: string,
    usage?: "serverAuth" | "clientAuth",
  ): Promise<{ cert: string; key: string; serial: string }>;
}

const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

let serialCounter = 0x1000;

async function inTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "redis-dr-certs-"));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function createTestCa(name = "redis-dr test CA"): Promise<TestCa> {
  const { certPem, keyPem } = await inTempDir(async (dir) => {
    await run("openssl", [
      "req",
      "-x509",
      ...NEW_KEY,
      "-keyout",
      join(dir, "ca.key"),
      "-out",
      join(dir, "ca.crt"),
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE,pathlen:0",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    return {
      certPem: await readFile(join(dir, "ca.crt"), "utf8"),
      keyPem: await readFile(join(dir, "ca.key"), "utf8"),
    };
  });
  return {
    certPem,
    issue: (commonName, usage = "serverAuth") =>
      inTempDir(async (dir) => {
        serialCounter += 1;
        const serial = serialCounter.toString(16);
        await writeFile(join(dir, "ca.crt"), certPem);
        await writeFile(join(dir, "ca.key"), keyPem, { mode: 0o600 });
        await writeFile(
          join(dir, "ext.cnf"),
          "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
            `extendedKeyUsage=${usage}\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n`,
        );
        await run("openssl", [
          "req",
          "-new",
          ...NEW_KEY,
          "-keyout",
          join(dir, "tls.key"),
          "-out",
          join(dir, "tls.csr"),
          "-subj",
          `/CN=${commonName}`,
        ]);
        await run("openssl", [
          "x509",
          "-req",
          "-in",
          join(dir, "tls.csr"),
          "-CA",
          join(dir, "ca.crt"),
          "-CAkey",
          join(dir, "ca.key"),
          "-set_serial",
          `0x${serial}`,
          "-days",
          "1",
          "-out",
          join(dir, "tls.crt"),
          "-extfile",
          join(dir, "ext.cnf"),
        ]);
        return {
          cert: await readFile(join(dir, "tls.crt"), "utf8"),
          key: await readFile(join(dir, "tls.key"), "utf8"),
          serial,
        };
      }),
  };
}
