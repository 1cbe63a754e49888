/**
 * Services and DNS: from inside a pod, `<svc>.<ns>.svc.cluster.local` reaches the selected pods (REPLICAOF
 * through a ClusterIP Service), headless Services resolve to pod IPs, and a LoadBalancer address of one
 * sandbox ("region") is reachable from a pod of another.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { OperatorProcess } from "../../hack/sandbox/operator.ts";
import { REPO_ROOT } from "../../hack/sandbox/sandbox.ts";
import { startSandbox, waitFor, type TestSandbox } from "../../hack/sandbox/testing.ts";

/** 127.14.0.0/16 and 127.15.0.0/16: this file's two regions. */
const EAST = 14;
const WEST = 15;
const NS = "default";

let east: TestSandbox;
let west: TestSandbox;
const clients: Redis[] = [];

before(async () => {
  [east, west] = await Promise.all([
    startSandbox({ range: EAST, name: "east" }),
    startSandbox({ range: WEST, name: "west" }),
  ]);
});
after(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all([east?.stop(), west?.stop()]);
});

function redis(host: string): Redis {
  const client = new Redis({
    host,
    port: 6379,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  clients.push(client);
  return client;
}

const redisPod = (name: string, labels: Record<string, string>, subdomain?: string): V1Pod => ({
  metadata: { name, labels },
  spec: {
    ...(subdomain ? { hostname: name, subdomain } : {}),
    containers: [
      {
        name: "redis",
        image: "redis:7.2",
        args: ["--save", "", "--appendonly", "no"],
        readinessProbe: { tcpSocket: { port: 6379 }, periodSeconds: 1 },
      },
    ],
  },
});

async function replicationOf(host: string): Promise<Record<string, string>> {
  const info = await redis(host).info("replication");
  return Object.fromEntries(
    info
      .split("\r\n")
      .filter((l) => l.includes(":"))
      .map((l) => l.split(":", 2) as [string, string]),
  );
}

describe("service DNS inside a region", () => {
  test("a pod replicates from <svc>.<ns>.svc.cluster.local, and headless names resolve to pod IPs", async () => {
    const core = east.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: "primary" },
        spec: { selector: { role: "primary" }, ports: [{ port: 6379 }] },
      },
    });
    await core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: "nodes" },
        spec: { clusterIP: "None", selector: { app: "dns" }, ports: [{ port: 6379 }] },
      },
    });
    await core.createNamespacedPod({
      namespace: NS,
      body: redisPod("source", { role: "primary", app: "dns" }, "nodes"),
    });
    await core.createNamespacedPod({ namespace: NS, body: redisPod("follower", { app: "dns" }, "nodes") });
    const sourceIp = await east.waitForPodReady("source");
    const followerIp = await east.waitForPodReady("follower");

    const service = await core.readNamespacedService({ name: "primary", namespace: NS });
    const clusterIp = service.spec?.clusterIP ?? "";
    assert.match(clusterIp, /^127\.14\.200\.\d+$/);
    assert.equal(east.resolve("primary.default.svc.cluster.local"), clusterIp);
    assert.equal(east.resolve("source.nodes.default.svc.cluster.local"), sourceIp);

    const lookup = await east.exec("follower", NS, [
      "sh",
      "-c",
      "getent hosts primary.default.svc.cluster.local primary.default.svc primary.default primary source.nodes.default.svc.cluster.local | cut -d' ' -f1",
    ]);
    assert.equal(lookup.output, `${clusterIp}\n${clusterIp}\n${clusterIp}\n${clusterIp}\n${sourceIp}\n`);

    await redis(sourceIp).set("written", "on the source");
    const replicaof = await east.exec("follower", NS, [
      "redis-cli",
      "REPLICAOF",
      "primary.default.svc.cluster.local",
      "6379",
    ]);
    assert.equal(replicaof.output, "OK\n");
    await waitFor(async () => (await replicationOf(followerIp)).master_link_status === "up", {
      what: "the replication link",
    });
    assert.equal(await redis(followerIp).get("written"), "on the source");
    // Through the Service proxy the source sees the follower's own pod IP, as with kube-proxy.
    assert.match(
      (await replicationOf(sourceIp)).slave0 ?? "",
      new RegExp(`^ip=${followerIp.replaceAll(".", "\\.")},port=6379,`),
    );
  });
});

describe("service DNS for the operator's processes", () => {
  test("a process the sandbox starts resolves Service names", async () => {
    const log = join(east.dir, "logs", "lookup.log");
    mkdirSync(join(east.dir, "logs"), { recursive: true });
    const lookup = new OperatorProcess({
      name: "lookup",
      args: [
        "test/sandbox/lookup-names.ts",
        "primary.default.svc.cluster.local",
        "primary.default.svc",
        "source.nodes.default.svc.cluster.local",
      ],
      cwd: REPO_ROOT,
      env: {},
      hostsFile: join(east.dir, "operator-hosts"),
      logFile: log,
      logger: east.sandbox.logger,
    });
    lookup.start();
    const output = await waitFor(
      () => {
        const text = existsSync(log) ? readFileSync(log, "utf8") : "";
        return text.split("\n").length > 3 ? text : undefined;
      },
      { what: "the lookups" },
    );
    await lookup.stop();
    const clusterIp = east.resolve("primary.default.svc.cluster.local") ?? "";
    assert.equal(
      output,
      `primary.default.svc.cluster.local ${clusterIp}\nprimary.default.svc ${clusterIp}\nsource.nodes.default.svc.cluster.local ${east.podIP("source") ?? ""}\n`,
    );
  });
});

describe("Service type changes", () => {
  test("a Service patched to LoadBalancer gets an address, and gives it back when patched back", async () => {
    const core = east.kubeConfig.makeApiClient(CoreV1Api);
    const created = await core.createNamespacedService({
      namespace: NS,
      body: { metadata: { name: "flip" }, spec: { selector: { app: "none" }, ports: [{ port: 7000 }] } },
    });
    const strategic = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
    const lb = await core.patchNamespacedService(
      { name: "flip", namespace: NS, body: { spec: { type: "LoadBalancer" } } },
      strategic,
    );
    assert.equal(lb.spec?.clusterIP, created.spec?.clusterIP);
    assert.match(lb.status?.loadBalancer?.ingress?.[0]?.ip ?? "", /^127\.14\.250\.\d+$/);
    const back = await core.patchNamespacedService(
      { name: "flip", namespace: NS, body: { spec: { type: "ClusterIP" } } },
      strategic,
    );
    assert.equal(back.status?.loadBalancer?.ingress, undefined);
    await core.deleteNamespacedService({ name: "flip", namespace: NS });
  });
});

describe("LoadBalancer across regions", () => {
  test("a pod in west replicates from east's LoadBalancer address", async () => {
    const eastCore = east.kubeConfig.makeApiClient(CoreV1Api);
    const westCore = west.kubeConfig.makeApiClient(CoreV1Api);
    const created = await eastCore.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: "primary-lb" },
        spec: { type: "LoadBalancer", selector: { role: "primary" }, ports: [{ port: 6379 }] },
      },
    });
    const lbIp = created.status?.loadBalancer?.ingress?.[0]?.ip ?? "";
    assert.match(lbIp, /^127\.14\.250\.\d+$/);
    assert.equal(east.loadBalancerIP("primary-lb"), lbIp);

    await westCore.createNamespacedPod({ namespace: NS, body: redisPod("dr-replica", { app: "dr" }) });
    const replicaIp = await west.waitForPodReady("dr-replica");
    assert.match(replicaIp, /^127\.15\./);
    // The source as DR setups name it: a DNS name for the other region's load balancer.
    west.addHost("redis-east.example.com", lbIp);
    await waitFor(
      async () =>
        (await west.exec("dr-replica", NS, ["getent", "hosts", "redis-east.example.com"])).output.startsWith(
          lbIp,
        ),
      {
        what: "the external name in the pod's hosts file",
      },
    );
    const replicaof = await west.exec("dr-replica", NS, [
      "redis-cli",
      "REPLICAOF",
      "redis-east.example.com",
      "6379",
    ]);
    assert.equal(replicaof.output, "OK\n");
    await waitFor(async () => (await replicationOf(replicaIp)).master_link_status === "up", {
      what: "the cross-region link",
    });
    // An ExternalName Service for the same source resolves to the same address.
    await westCore.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: "east-source" },
        spec: { type: "ExternalName", externalName: "redis-east.example.com" },
      },
    });
    await waitFor(() => west.resolve("east-source.default.svc.cluster.local") === lbIp, {
      what: "the ExternalName",
    });
    assert.equal(await redis(replicaIp).get("written"), "on the source");
  });
});
