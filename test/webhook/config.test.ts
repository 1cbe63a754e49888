import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../webhook/config.ts";

describe("parseConfig", () => {
  test("verifies client certificates only when given a CA, and names only with one", () => {
    const config = parseConfig([
      "--cert-dir=/c",
      "--client-ca-file=/ca/ca.crt",
      "--client-names",
      "kube-apiserver, x",
    ]);
    assert.equal(config.clientCaFile, "/ca/ca.crt");
    assert.deepEqual(config.clientNames, ["kube-apiserver", "x"]);
    assert.equal(parseConfig(["--cert-dir=/c"]).clientCaFile, undefined);
    assert.throws(() => parseConfig(["--cert-dir=/c", "--client-names=kube-apiserver"]), {
      message: "--client-names needs --client-ca-file: names are read from verified client certificates",
    });
  });

  test("takes the allowed source ranges from --allow-source-cidrs, else from the environment", () => {
    const env = { REDIS_DR_ALLOW_SOURCE_CIDRS: "127.0.0.0/8" };
    assert.deepEqual(parseConfig(["--cert-dir=/c"], env).allowedSourceCidrs, ["127.0.0.0/8"]);
    assert.deepEqual(
      parseConfig(["--cert-dir=/c", "--allow-source-cidrs", "10.0.0.0/8, fd00::/8"], env).allowedSourceCidrs,
      ["10.0.0.0/8", "fd00::/8"],
    );
    assert.throws(() => parseConfig(["--cert-dir=/c", "--allow-source-cidrs=127.0.0.1"]), {
      message: '--allow-source-cidrs: "127.0.0.1" is not a CIDR range such as 127.0.0.0/8 or fd00::/8',
    });
  });

  test("needs only --cert-dir, and defaults the rest", () => {
    assert.deepEqual(parseConfig(["--cert-dir", "/tmp/k8s-webhook-server/serving-certs"]), {
      certDir: "/tmp/k8s-webhook-server/serving-certs",
      host: "0.0.0.0",
      port: 9443,
      healthPort: 8081,
      certPollMs: 5000,
      shutdownGraceMs: 10_000,
      logLevel: "info",
      allowedSourceCidrs: [],
      clientNames: [],
    });
  });

  test("takes every flag, in either --flag value or --flag=value form", () => {
    assert.deepEqual(
      parseConfig([
        "--cert-dir=/certs",
        "--host",
        "127.0.0.1",
        "--port",
        "10250",
        "--health-port=0",
        "--cert-poll-ms",
        "250",
        "--log-level",
        "debug",
      ]),
      {
        certDir: "/certs",
        host: "127.0.0.1",
        port: 10250,
        healthPort: 0,
        certPollMs: 250,
        shutdownGraceMs: 10_000,
        logLevel: "debug",
        allowedSourceCidrs: [],
        clientNames: [],
      },
    );
  });

  const bad: { name: string; args: string[]; message: string }[] = [
    { name: "no --cert-dir", args: [], message: "--cert-dir is required" },
    { name: "an empty --cert-dir", args: ["--cert-dir="], message: "--cert-dir is required" },
    {
      name: "--cert-dir without a value",
      args: ["--cert-dir"],
      message: "Option '--cert-dir <value>' argument missing",
    },
    {
      name: "a port that is not a number",
      args: ["--cert-dir", "d", "--port", "https"],
      message: '--port must be a port number (0-65535), got "https"',
    },
    {
      name: "a port out of range",
      args: ["--cert-dir", "d", "--port", "70000"],
      message: '--port must be a port number (0-65535), got "70000"',
    },
    {
      name: "an empty port",
      args: ["--cert-dir", "d", "--port="],
      message: '--port must be a port number (0-65535), got ""',
    },
    {
      name: "a hexadecimal port",
      args: ["--cert-dir", "d", "--port", "0x24e3"],
      message: '--port must be a port number (0-65535), got "0x24e3"',
    },
    {
      name: "a negative health port",
      args: ["--cert-dir", "d", "--health-port=-1"],
      message: '--health-port must be a port number (0-65535), got "-1"',
    },
    {
      name: "a fractional health port",
      args: ["--cert-dir", "d", "--health-port", "8081.5"],
      message: '--health-port must be a port number (0-65535), got "8081.5"',
    },
    {
      name: "a poll interval below 10 ms",
      args: ["--cert-dir", "d", "--cert-poll-ms", "5"],
      message: '--cert-poll-ms must be an integer ≥ 10, got "5"',
    },
    {
      name: "an unknown log level",
      args: ["--cert-dir", "d", "--log-level", "loud"],
      message: '--log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    },
    {
      name: "an unknown flag",
      args: ["--cert-dir", "d", "--tls-min-version", "1.3"],
      message: "Unknown option '--tls-min-version'",
    },
    {
      name: "a stray argument",
      args: ["--cert-dir", "d", "certs"],
      message: "Unexpected argument 'certs'. This command does not take positional arguments",
    },
  ];
  for (const c of bad) {
    test(`refuses ${c.name} with a clear message`, () => {
      assert.throws(() => parseConfig(c.args), { message: c.message });
    });
  }
});
