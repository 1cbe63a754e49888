/**
 * The Kubernetes SecretAccessReviewer: the review it sends, and failing closed when the API server answers an
 * error or is not there. (Against a real API server with real RBAC: test/k8s/webhook-security.e2e.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { createKubeApiClient, type KubeApiClient } from "../../../webhook/kube/api-client.ts";
import { kubeAccessReviewer, secretAccessReview } from "../../../webhook/kube/access-reviewer.ts";
import { SecretReadError } from "../../../webhook/validation/secrets.ts";
import { captureLogs } from "../../support/logs.ts";

/** A client of the plain-HTTP test server at `server` (no credentials). */
function api(server: string): KubeApiClient {
  return createKubeApiClient({ server, from: "test", insecureSkipTlsVerify: false });
}

test("asks about exactly the requesting user: name, uid, groups and extra, for get on one Secret", () => {
  assert.deepEqual(
    secretAccessReview(
      { username: "alice", uid: "u-1", groups: ["dev"], extra: { "example.com/team": ["payments"] } },
      "x",
      "east-auth",
    ),
    {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: {
        user: "alice",
        uid: "u-1",
        groups: ["dev"],
        extra: { "example.com/team": ["payments"] },
        resourceAttributes: {
          namespace: "x",
          verb: "get",
          group: "",
          version: "v1",
          resource: "secrets",
          name: "east-auth",
        },
      },
    },
  );
});

test("an API server error fails the check with its code, and nothing else", async () => {
  const failing = createServer((socket) => {
    socket.once("data", () => {
      const body = JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code: 500 });
      socket.end(
        `HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
  });
  await new Promise<void>((resolve) => failing.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = failing.address() as AddressInfo;
    const logs = captureLogs();
    const reviewer = kubeAccessReviewer(api(`http://127.0.0.1:${port}`), logs.logger);
    await assert.rejects(
      reviewer.mayGetSecret({ username: "alice" }, "x", "east-auth"),
      (error: unknown) =>
        error instanceof SecretReadError &&
        error.message === 'could not ask whether user "alice" may get it: the Kubernetes API answered 500',
    );
    assert.equal(logs.lines().find((line) => line.msg === "a SubjectAccessReview failed")?.name, "east-auth");
  } finally {
    await new Promise((resolve) => failing.close(resolve));
  }
});

test("an API server that is not there fails the check as unreachable", async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const reviewer = kubeAccessReviewer(api(`http://127.0.0.1:${port}`), captureLogs().logger);
  await assert.rejects(
    reviewer.mayGetSecret({ username: "alice" }, "x", "east-auth"),
    (error: unknown) =>
      error instanceof SecretReadError &&
      error.message ===
        'could not ask whether user "alice" may get it: the Kubernetes API could not be reached',
  );
});
