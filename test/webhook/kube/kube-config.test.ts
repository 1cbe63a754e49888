/**
 * client-node opens a new TLS connection for every API call; KeepAliveKubeConfig reuses one. Measured as the
 * number of TLS handshakes a real HTTPS server sees for twenty sequential Secret reads.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { KeepAliveKubeConfig } from "../../../kube-common/kube-config.ts";
import { createTestCa } from "../../support/certs.ts";

let server: Server;
let handshakes = 0;
let caPem = "";

before(async () => {
  const ca = await createTestCa();
  caPem = ca.certPem;
  const { cert, key } = await ca.issue("localhost");
  server = createServer({ cert, key }, (req, res) => {
    const name = /\/secrets\/([^/?]+)/.exec(req.url ?? "")?.[1] ?? "";
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name }, data: { password: "cw==" } }),
    );
  });
  server.on("secureConnection", () => handshakes++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function load<T extends KubeConfig>(config: T): T {
  const { port } = server.address() as AddressInfo;
  config.loadFromOptions({
    clusters: [
      { name: "c", server: `https://127.0.0.1:${port}`, caData: Buffer.from(caPem).toString("base64") },
    ],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return config;
}

async function handshakesFor(config: KubeConfig): Promise<number> {
  const api = config.makeApiClient(CoreV1Api);
  const start = handshakes;
  for (let i = 0; i < 20; i++) {
    const secret = await api.readNamespacedSecret({ name: `s${i}`, namespace: "default" });
    assert.equal(secret.metadata?.name, `s${i}`);
  }
  return handshakes - start;
}

test("plain client-node KubeConfig opens a new TLS connection per call (why the subclass exists)", async () => {
  assert.equal(await handshakesFor(load(new KubeConfig())), 20);
});

test("KeepAliveKubeConfig verifies the server and reuses one connection for sequential calls", async () => {
  const config = load(new KeepAliveKubeConfig());
  try {
    assert.equal(await handshakesFor(config), 1);
  } finally {
    config.close();
  }
});

test("KeepAliveKubeConfig still refuses a server its CA did not sign", async () => {
  const other = await createTestCa("another CA");
  const config = load(new KeepAliveKubeConfig());
  config.clusters[0] = { ...config.clusters[0]!, caData: Buffer.from(other.certPem).toString("base64") };
  try {
    await assert.rejects(
      config.makeApiClient(CoreV1Api).readNamespacedSecret({ name: "s", namespace: "default" }),
    );
  } finally {
    config.close();
  }
});
