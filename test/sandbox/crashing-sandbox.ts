/**
 * Fixture for crash.e2e.test.ts: starts a sandbox with one Redis pod, prints the pod's PID, IP and the sandbox
 * directory as JSON, then dies by SIGKILL without stopping anything.
 */
import { CoreV1Api } from "@kubernetes/client-node";
import { startSandbox } from "../../hack/sandbox/testing.ts";

const sb = await startSandbox({ range: Number(process.argv[2] ?? "18") });
await sb.kubeConfig.makeApiClient(CoreV1Api).createNamespacedPod({
  namespace: "default",
  body: { metadata: { name: "orphan" }, spec: { containers: [{ name: "redis", image: "redis:7.2" }] } },
});
const ip = await sb.waitForPodReady("orphan");
const pid = sb.sandbox.kubelet.containerPid("default", "orphan");
process.stdout.write(`${JSON.stringify({ pid, ip, dir: sb.dir })}\n`, () =>
  process.kill(process.pid, "SIGKILL"),
);
