/**
 * The node agent on the real control plane (kube-apiserver, etcd, kube-controller-manager and
 * kube-scheduler 1.37.2 built from source): a registered, Ready Node with its Lease; StatefulSet pods
 * scheduled by kube-scheduler and created by the real StatefulSet controller, running redis-server on their
 * own pod addresses with a provisioned volume each; `kubectl exec` and `kubectl logs` through the API server.
 * Runs inside the test network namespace (hack/k8s/test.sh).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { RealCluster } from "../../hack/k8s/cluster.ts";
import { waitFor } from "../../hack/sandbox/testing.ts";

const RANGE = 73;

const statefulSet = `
apiVersion: v1
kind: Service
metadata: { name: cache, namespace: default }
spec:
  clusterIP: None
  selector: { app: cache }
  ports: [{ name: redis, port: 6379 }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: cache, namespace: default }
spec:
  serviceName: cache
  replicas: 2
  selector: { matchLabels: { app: cache } }
  template:
    metadata: { labels: { app: cache } }
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: redis
          image: redis:7.2
          args: ["--appendonly", "yes", "--dir", "/data"]
          ports: [{ name: redis, containerPort: 6379 }]
          readinessProbe: { exec: { command: ["redis-cli", "PING"] }, periodSeconds: 1 }
          volumeMounts: [{ name: data, mountPath: /data }]
  volumeClaimTemplates:
    - metadata: { name: data }
      spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }
`;

interface List<T> {
  items: T[];
}

interface NodeJson {
  spec: { taints?: unknown };
  status: {
    conditions: { type: string; status: string }[];
    addresses: { type: string; address: string }[];
    declaredFeatures: string[];
    nodeInfo: { kubeletVersion: string };
  };
}

describe("the node agent on a real control plane", () => {
  let cluster: RealCluster;

  before(async () => {
    cluster = await RealCluster.start({ range: RANGE });
  });
  after(() => cluster?.stop());

  const json = async <T>(args: string[]) => JSON.parse(await cluster.kubectlOk([...args, "-o", "json"])) as T;

  it("registers a Ready Node that declares WebSocket exec, and renews its Lease with a MicroTime", async () => {
    const node = await json<NodeJson>(["get", "node", `node-${RANGE}`]);
    const ready = (node.status.conditions as { type: string; status: string }[]).find(
      (c) => c.type === "Ready",
    );
    assert.equal(ready?.status, "True");
    assert.deepEqual(node.status.addresses, [
      { type: "InternalIP", address: `10.${RANGE}.0.3` },
      { type: "Hostname", address: `node-${RANGE}` },
    ]);
    assert.deepEqual(node.status.declaredFeatures, ["ExtendWebSocketsToKubelet"]);
    assert.equal(node.status.nodeInfo.kubeletVersion, "v1.37.2");
    // The node lifecycle controller lifted the not-ready taint the API server put on the new Node.
    assert.equal(node.spec.taints, undefined);
    const lease = await json<{ spec: { holderIdentity: string; renewTime: string } }>([
      "get",
      "lease",
      `node-${RANGE}`,
      "-n",
      "kube-node-lease",
    ]);
    assert.equal(lease.spec.holderIdentity, `node-${RANGE}`);
    assert.match(lease.spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it("runs a StatefulSet's pods on their own addresses, each with a bound volume that keeps its data", async () => {
    await cluster.kubectlOk(["apply", "-f", "-"], statefulSet);
    await cluster.kubectlOk(["rollout", "status", "statefulset/cache", "--timeout=120s"]);
    const pods = await json<List<{ metadata: { name: string }; status: { podIP: string } }>>([
      "get",
      "pods",
      "-l",
      "app=cache",
    ]);
    const ips = pods.items.map((p) => p.status.podIP).sort();
    assert.equal(ips.length, 2);
    for (const ip of ips) assert.match(ip, new RegExp(`^10\\.${RANGE}\\.\\d+\\.\\d+$`));
    const claims = await json<List<{ metadata: { name: string }; status: { phase: string } }>>([
      "get",
      "pvc",
    ]);
    assert.deepEqual(claims.items.map((c) => `${c.metadata.name}=${c.status.phase}`).sort(), [
      "data-cache-0=Bound",
      "data-cache-1=Bound",
    ]);

    const first = ips[0] ?? "";
    const name = pods.items.find((p) => p.status.podIP === first)?.metadata.name;
    const redis = new Redis({ host: first, port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    await redis.set("kept", "across a pod deletion");
    await redis.quit();
    // The StatefulSet controller recreates the deleted pod; the node agent mounts the same claim again.
    await cluster.kubectlOk(["delete", "pod", name ?? "", "--wait=true"]);
    await cluster.kubectlOk(["rollout", "status", "statefulset/cache", "--timeout=120s"]);
    await cluster.kubectlOk(["wait", "--for=condition=Ready", `pod/${name}`, "--timeout=60s"]);
    const value = await waitFor(
      async () => {
        const out = await cluster.kubectl(["exec", name ?? "", "--", "redis-cli", "GET", "kept"]);
        return out.status === 0 ? out.stdout.trim() : undefined;
      },
      { timeoutMs: 30_000, what: "GET through kubectl exec" },
    );
    assert.equal(value, "across a pod deletion");
  });

  it("answers the reference's kubectl exec and kubectl logs through the API server", async () => {
    const info = await cluster.kubectlOk(["exec", "cache-0", "--", "redis-cli", "INFO", "replication"]);
    assert.match(info, /^role:master\r?$/m);
    const failed = await cluster.kubectl(["exec", "cache-0", "--", "redis-cli", "NO-SUCH-COMMAND"]);
    assert.match(failed.stdout + failed.stderr, /ERR unknown command/);
    const logs = await cluster.kubectlOk(["logs", "cache-0", "--tail=50"]);
    assert.match(logs, /Ready to accept connections/);
  });

  it("records the kubelet's and the scheduler's Events for the pods", async () => {
    const events = await json<List<{ reason: string }>>([
      "get",
      "events",
      "--field-selector",
      "involvedObject.name=cache-1",
    ]);
    const reasons = new Set(events.items.map((e) => e.reason));
    assert.ok(reasons.has("Scheduled"), `reasons: ${[...reasons].join(", ")}`);
    assert.ok(reasons.has("Started"), `reasons: ${[...reasons].join(", ")}`);
  });
});
