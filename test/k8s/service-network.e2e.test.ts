/**
 * The Service network of a real cluster (hack/k8s/service-network.ts) against a real control plane: ClusterIP
 * and LoadBalancer connections DNATed by nftables to ready EndpointSlice endpoints, refused at once without
 * one, the API server's own `kubernetes` Service, hosts files, and the table gone after stop().
 *
 * Runs inside a network namespace of its own, like every file under test/k8s/ that starts a control plane:
 *   bash hack/k8s/in-netns.sh node --import tsx --test test/k8s/service-network.e2e.test.ts
 * No node agent runs, so no pod does: the backends are TCP servers and a redis-server on pod addresses, and
 * the Services have no selector and hand-written EndpointSlices.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { ControlPlane } from "../../hack/k8s/control-plane.ts";
import { JsonClient } from "../../hack/k8s/json-client.ts";
import { renderRuleset, ServiceNetwork } from "../../hack/k8s/service-network.ts";
import { waitFor } from "../../hack/sandbox/testing.ts";

/** 10.71.0.0/16: this file's cluster. */
const RANGE = 71;
const TABLE = `redis-dr-${RANGE}`;
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const REDIS_IP = "10.71.1.5";

const logger = pino({ level: "warn" }, pino.destination(2));
let dir: string;
let plane: ControlPlane;
let client: JsonClient;
let network: ServiceNetwork;
let redis: ChildProcess | undefined;
const servers: net.Server[] = [];
/** Connections each TCP backend accepted, by `ip:port`. */
const accepted = new Map<string, number>();

before(async () => {
  const binaries = execFileSync("bash", [join(REPO_ROOT, "hack/k8s/build.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  dir = mkdtempSync(join(tmpdir(), "service-network-"));
  plane = new ControlPlane({ dir, range: RANGE, binaries, logger });
  await plane.start();
  client = new JsonClient(plane.adminKubeConfig());
  network = new ServiceNetwork({ client, range: RANGE, logger });
  await network.start();
  redis = spawn(
    "redis-server", // Protected mode answers DENIED to any client that is not on the loopback interface.
    ["--bind", REDIS_IP, "--port", "6379", "--protected-mode", "no", "--save", "", "--appendonly", "no"],
    {
      cwd: dir,
      stdio: "ignore",
    },
  );
  await waitFor(async () => (await outcome(REDIS_IP, 6379, "PING\r\n")) === "+PONG\r\n", {
    what: "redis-server",
  });
});

after(async () => {
  redis?.kill("SIGKILL");
  for (const server of servers) server.close();
  await network?.stop();
  await plane?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A TCP server on `ip:port` that counts connections and greets each with `ip:port`. */
async function backend(ip: string, port: number): Promise<void> {
  const key = `${ip}:${port}`;
  accepted.set(key, 0);
  const server = net.createServer((socket) => {
    accepted.set(key, (accepted.get(key) ?? 0) + 1);
    socket.end(`${key}\n`);
  });
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, ip, () => resolve());
  });
}

/** Connects, sends `payload` (if any), resolves with the first data received; rejects with the socket error. */
function exchange(ip: string, port: number, payload?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: ip, port });
    socket.setTimeout(3_000, () => socket.destroy(new Error(`no answer from ${ip}:${port} in 3 s`)));
    socket.once("connect", () => {
      if (payload !== undefined) socket.write(payload);
    });
    socket.once("data", (data) => {
      resolve(data.toString());
      socket.destroy();
    });
    socket.once("error", reject);
  });
}

/** How a connection attempt ends: the first data, or the error's code. */
const outcome = (ip: string, port: number, payload?: string) =>
  exchange(ip, port, payload).catch((error: NodeJS.ErrnoException) => `error ${error.code ?? error.message}`);

interface PortSpec {
  name: string;
  port: number;
  targetPort?: number;
}

async function createService(namespace: string, name: string, spec: Record<string, unknown>) {
  const service = await client.create(`/api/v1/namespaces/${namespace}/services`, {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name },
    spec,
  });
  return String((service.spec as { clusterIP?: unknown }).clusterIP);
}

async function createSlice(
  namespace: string,
  service: string,
  ports: PortSpec[],
  endpoints: { ip: string; ready?: boolean; hostname?: string }[],
): Promise<void> {
  await client.create(`/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`, {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${service}-manual`,
      labels: {
        "kubernetes.io/service-name": service,
        "endpointslice.kubernetes.io/managed-by": "service-network-test",
      },
    },
    addressType: "IPv4",
    ports: ports.map(({ name, port }) => ({ name, port, protocol: "TCP" })),
    endpoints: endpoints.map(({ ip, ready, hostname }) => ({
      addresses: [ip],
      ...(ready === undefined ? {} : { conditions: { ready } }),
      ...(hostname ? { hostname } : {}),
    })),
  });
}

function nftTable(): string {
  try {
    return execFileSync("nft", ["list", "table", "ip", TABLE], { encoding: "utf8", stdio: "pipe" });
  } catch {
    return "";
  }
}

function readyz(ip: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      { host: ip, port: 443, path: "/readyz", ca: plane.caPem, agent: false, timeout: 3_000 },
      (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => (body += chunk.toString()));
        response.on("end", () => resolve(`${response.statusCode} ${body}`));
      },
    );
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", reject);
  });
}

describe("the nftables ruleset", () => {
  test("DNATs each frontend to its backends at random and resets frontends without any", () => {
    const ruleset = renderRuleset("redis-dr-9", [
      {
        comment: "default/kubernetes:https",
        ip: "10.9.192.1",
        port: 443,
        backends: [{ ip: "10.9.0.1", port: 6443 }],
      },
      {
        comment: "ns/redis:redis",
        ip: "10.9.192.10",
        port: 6379,
        backends: [
          { ip: "10.9.1.5", port: 6379 },
          { ip: "10.9.1.6", port: 6379 },
        ],
      },
      { comment: "ns/empty:redis", ip: "10.9.192.11", port: 6379, backends: [] },
    ]);
    assert.equal(
      ruleset,
      [
        "table ip redis-dr-9 {",
        "\tchain services {",
        "\t\ttype nat hook output priority -100; policy accept;",
        '\t\tip daddr 10.9.192.1 tcp dport 443 dnat to 10.9.0.1:6443 comment "default/kubernetes:https"',
        "\t\tip daddr 10.9.192.10 tcp dport 6379 dnat to numgen random mod 2 map { 0 : 10.9.1.5 . 6379, 1 : 10.9.1.6 . 6379 } " +
          'comment "ns/redis:redis"',
        "\t}",
        "\tchain no-endpoints {",
        "\t\ttype filter hook output priority 0; policy accept;",
        '\t\tip daddr 10.9.192.11 tcp dport 6379 reject with tcp reset comment "ns/empty:redis has no ready endpoints"',
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
  });
});

describe("ClusterIP Services", () => {
  test("a connection to ClusterIP:port reaches the ready endpoint: redis answers PING with PONG", async () => {
    const ip = await createService("default", "redis", {
      ports: [{ name: "redis", port: 6379, targetPort: 6379 }],
    });
    await createSlice("default", "redis", [{ name: "redis", port: 6379 }], [{ ip: REDIS_IP, ready: true }]);
    assert.equal(
      await waitFor(async () => (await outcome(ip, 6379, "PING\r\n")) === "+PONG\r\n" || undefined, {
        what: `PONG through ${ip}:6379`,
      }),
      true,
    );
  });

  test("connections spread over the ready endpoints, by the port of the Service port's name; none reach a not-ready one", async () => {
    for (const host of ["10.71.1.10", "10.71.1.11", "10.71.1.12"]) {
      await backend(host, 7001);
      await backend(host, 7101);
    }
    const ip = await createService("default", "spread", {
      ports: [
        { name: "tcp", port: 7000, targetPort: 7001 },
        { name: "admin", port: 7100, targetPort: 7101 },
      ],
    });
    await createSlice(
      "default",
      "spread",
      [
        { name: "admin", port: 7101 },
        { name: "tcp", port: 7001 },
      ],
      [
        { ip: "10.71.1.10", ready: true },
        { ip: "10.71.1.11" }, // no conditions: ready
        { ip: "10.71.1.12", ready: false },
      ],
    );
    await waitFor(async () => (await outcome(ip, 7000)).startsWith("10.71.1.1"), {
      what: `a backend through ${ip}:7000`,
    });
    for (const key of accepted.keys()) accepted.set(key, 0);
    const answers = new Set<string>();
    for (let i = 0; i < 40; i++) answers.add((await exchange(ip, 7000)).trim());
    assert.deepEqual([...answers].sort(), ["10.71.1.10:7001", "10.71.1.11:7001"]);
    assert.equal(accepted.get("10.71.1.12:7001"), 0);
    assert.equal((accepted.get("10.71.1.10:7001") ?? 0) + (accepted.get("10.71.1.11:7001") ?? 0), 40);
    assert.match((await exchange(ip, 7100)).trim(), /^10\.71\.1\.1[01]:7101$/);
  });

  test("a Service without a ready endpoint refuses a connection at once, even with something listening on its ClusterIP", async () => {
    const ip = await createService("default", "empty", { ports: [{ name: "redis", port: 6379 }] });
    // 10.0.0.0/8 is local here: without the reject rule this trap would accept the connection.
    await backend(ip, 6379);
    await waitFor(() => nftTable().includes(`ip daddr ${ip} tcp dport 6379 reject with tcp reset`), {
      what: "the reject rule",
    });
    const started = Date.now();
    assert.equal(await outcome(ip, 6379), "error ECONNREFUSED");
    assert.ok(Date.now() - started < 1_000, `refused after ${Date.now() - started} ms`);
    assert.equal(accepted.get(`${ip}:6379`), 0);
  });

  test("kubernetes.default's ClusterIP 10.71.192.1:443 reaches the API server", async () => {
    assert.equal(network.resolve("kubernetes.default.svc.cluster.local"), "10.71.192.1");
    assert.equal(
      await waitFor(() => readyz("10.71.192.1").catch(() => false), { what: "/readyz through the Service" }),
      "200 ok",
    );
    assert.match(nftTable(), /ip daddr 10\.71\.192\.1 tcp dport 443 dnat (ip )?to 10\.71\.0\.1:6443/);
  });
});

describe("LoadBalancer Services", () => {
  test("get an address from 10.71.160.1 upward in their status and forward it like the ClusterIP", async () => {
    await createService("default", "redis-lb", {
      type: "LoadBalancer",
      ports: [{ name: "redis", port: 6379 }],
    });
    await createSlice("default", "redis-lb", [{ name: "redis", port: 6379 }], [{ ip: REDIS_IP }]);
    const ingressIp = async (name: string) => {
      const service = await client.get(`/api/v1/namespaces/default/services/${name}`);
      const status = service.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined;
      return status?.loadBalancer?.ingress?.[0]?.ip;
    };
    const ip = await waitFor(() => ingressIp("redis-lb"), { what: "the LoadBalancer address" });
    assert.equal(ip, "10.71.160.1");
    assert.equal(
      await waitFor(async () => (await outcome(ip, 6379, "PING\r\n")) === "+PONG\r\n" || undefined, {
        what: `PONG through ${ip}:6379`,
      }),
      true,
    );
    await createService("default", "other-lb", { type: "LoadBalancer", ports: [{ name: "x", port: 1 }] });
    assert.equal(await waitFor(() => ingressIp("other-lb")), "10.71.160.2");
  });
});

describe("hosts files", () => {
  test("name ClusterIP Services, the ready endpoints and hostnames of headless ones, and the extra hosts; rewritten in place", async () => {
    await client.create("/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "dns" },
    });
    const webIp = await createService("dns", "web", { ports: [{ name: "http", port: 80 }] });
    await createService("dns", "redis-nodes", { clusterIP: "None", ports: [{ name: "redis", port: 6379 }] });
    await createSlice(
      "dns",
      "redis-nodes",
      [{ name: "redis", port: 6379 }],
      [
        { ip: "10.71.1.21", hostname: "redis-1" },
        { ip: "10.71.1.20", hostname: "redis-0", ready: true },
        { ip: "10.71.1.22", hostname: "redis-2", ready: false },
      ],
    );
    network.addHost("redis-east.example.com", "10.72.160.1");
    const podFile = join(dir, "pod-hosts");
    const otherFile = join(dir, "other-hosts");
    writeFileSync(podFile, "");
    const inode = statSync(podFile).ino;
    const self = "10.71.1.99\tme.redis-nodes.dns.svc.cluster.local me";
    network.registerHostsFile("pod", podFile, "dns", [self]);
    network.registerHostsFile("other", otherFile, "default", []);
    await waitFor(() => readFileSync(podFile, "utf8").includes("redis-1.redis-nodes"), {
      what: "the headless Service's records",
    });
    const lines = readFileSync(podFile, "utf8").split("\n");
    assert.deepEqual(lines.slice(0, 5), [
      "# Kubernetes-managed hosts file (real cluster 10.71.0.0/16).",
      "127.0.0.1\tlocalhost",
      "::1\tlocalhost ip6-localhost ip6-loopback",
      self,
      "10.72.160.1\tredis-east.example.com",
    ]);
    assert.ok(
      lines.includes(
        "10.71.192.1\tkubernetes.default.svc.cluster.local kubernetes.default.svc kubernetes.default",
      ),
    );
    assert.deepEqual(
      lines.slice(5).filter((line) => line.includes(".dns.svc")),
      [
        "10.71.1.20\tredis-nodes.dns.svc.cluster.local redis-nodes.dns.svc redis-nodes.dns redis-nodes",
        "10.71.1.21\tredis-nodes.dns.svc.cluster.local redis-nodes.dns.svc redis-nodes.dns redis-nodes",
        `${webIp}\tweb.dns.svc.cluster.local web.dns.svc web.dns web`,
        "10.71.1.20\tredis-0.redis-nodes.dns.svc.cluster.local redis-0.redis-nodes.dns.svc redis-0.redis-nodes",
        "10.71.1.21\tredis-1.redis-nodes.dns.svc.cluster.local redis-1.redis-nodes.dns.svc redis-1.redis-nodes",
      ],
    );
    // Another namespace's file has no short names for dns.
    assert.ok(
      readFileSync(otherFile, "utf8")
        .split("\n")
        .includes(`${webIp}\tweb.dns.svc.cluster.local web.dns.svc web.dns`),
    );
    assert.equal(network.resolve("web", "dns"), webIp);
    assert.equal(network.resolve("web", "default"), undefined);
    assert.equal(network.resolve("redis-2.redis-nodes.dns.svc.cluster.local"), undefined);

    await createService("dns", "late", { ports: [{ name: "http", port: 80 }] });
    await waitFor(() => readFileSync(podFile, "utf8").includes("late.dns.svc"), {
      what: "the new Service's names",
    });
    assert.equal(statSync(podFile).ino, inode, "rewritten in place: pods see the file through a bind mount");
  });
});

describe("removal", () => {
  test("deleting a Service removes its rules and its names", async () => {
    const service = await client.get("/api/v1/namespaces/default/services/spread");
    const ip = String((service.spec as { clusterIP?: unknown }).clusterIP);
    assert.ok(nftTable().includes(`ip daddr ${ip} tcp dport 7000`));
    await client.delete("/api/v1/namespaces/default/services/spread");
    await client.delete("/api/v1/namespaces/default/services/redis-lb");
    await waitFor(() => !nftTable().includes(ip) && !nftTable().includes("10.71.160.1 "), {
      what: "the rules gone",
    });
    assert.equal(network.resolve("spread.default.svc.cluster.local"), undefined);
    await waitFor(() => !readFileSync(join(dir, "pod-hosts"), "utf8").includes("spread."), {
      what: "the names gone from the hosts file",
    });
  });

  test("stop() removes the table", async () => {
    assert.match(
      execFileSync("nft", ["list", "tables"], { encoding: "utf8" }),
      new RegExp(`table ip ${TABLE}\\n`),
    );
    await network.stop();
    assert.doesNotMatch(
      execFileSync("nft", ["list", "tables"], { encoding: "utf8" }),
      new RegExp(`table ip ${TABLE}\\b`),
    );
  });
});
