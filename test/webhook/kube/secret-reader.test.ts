/**
 * The Kubernetes SecretReader when the API server misbehaves: one that accepts connections and never
 * answers, and one that is not there. (Against a working API server: test/e2e/webhook.e2e.test.ts.)
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { createKubeApiClient, type KubeApiClient } from "../../../webhook/kube/api-client.ts";
import { kubeSecretReader } from "../../../webhook/kube/secret-reader.ts";
import { SecretReadError } from "../../../webhook/validation/secrets.ts";
import { captureLogs } from "../../support/logs.ts";

const sockets: Socket[] = [];
// Reads what it is sent (so it sees the client close the connection) and never answers.
const silent: Server = createServer((socket) => {
  sockets.push(socket);
  socket.resume();
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

/** A client of the plain-HTTP test server at `server` (no credentials). */
function api(server: string): KubeApiClient {
  return createKubeApiClient({ server, from: "test", insecureSkipTlsVerify: false });
}

test(
  "an API server that never answers fails the lookup after the timeout, and the request is abandoned",
  { timeout: 10_000 },
  async () => {
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as AddressInfo;
    const logs = captureLogs();
    const reader = kubeSecretReader(api(`http://127.0.0.1:${port}`), logs.logger, 200);
    await assert.rejects(
      reader.secretKeys("default", "redis-password"),
      (error: unknown) =>
        error instanceof SecretReadError &&
        error.message === "the Kubernetes API did not answer within 200ms",
    );
    const warning = logs.lines().find((line) => line.msg === "could not get a Secret");
    assert.equal(warning?.name, "redis-password");
    // The request is abandoned, not left holding one of the client's pooled connections forever.
    const [socket] = sockets;
    assert.ok(socket);
    if (!socket.closed) await new Promise((resolve) => socket.once("close", resolve));
  },
);

test("an API server that is not there fails the lookup as unreachable", async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const reader = kubeSecretReader(api(`http://127.0.0.1:${port}`), captureLogs().logger);
  await assert.rejects(
    reader.secretKeys("default", "redis-password"),
    (error: unknown) =>
      error instanceof SecretReadError && error.message === "the Kubernetes API could not be reached",
  );
});

test("a connection reset by the API server is retried once, and the lookup succeeds", async () => {
  let connections = 0;
  const flaky = createServer((socket) => {
    connections += 1;
    if (connections === 1) {
      // What a pooled connection closed by the server's idle timeout looks like to the client.
      socket.once("data", () => socket.resetAndDestroy());
      return;
    }
    socket.once("data", () => {
      const body = JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "redis-password" },
        data: { password: "cw==" },
      });
      socket.end(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
  });
  await new Promise<void>((resolve) => flaky.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = flaky.address() as AddressInfo;
    const reader = kubeSecretReader(api(`http://127.0.0.1:${port}`), captureLogs().logger);
    const keys = await reader.secretKeys("default", "redis-password");
    assert.deepEqual([...(keys ?? [])], ["password"]);
    assert.equal(connections, 2);
  } finally {
    await new Promise((resolve) => flaky.close(resolve));
  }
});
