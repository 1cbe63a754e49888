import { startTestCluster } from "../../../k8s/testing.ts";
import { Kubectl } from "../../../lib/kubectl.ts";
import { EAST, RANGE, WEST, until, type Scene } from "../context.ts";

export const startSandbox: Scene = {
  name: "Start the sandbox: API server, the admission webhook, the controller",
  detail: `One sandbox plays both regions: namespace ${EAST} is us-east-1, ${WEST} is us-west-2; the network between them is a TCP proxy per direction.`,
  async run(ctx) {
    ctx.sandbox = await startTestCluster({
      backend: ctx.controlPlane,
      range: RANGE,
      webhook: true,
      controller: true,
      operatorEnv: { RESYNC_SECONDS: "1" },
    });
    const sb = ctx.sandbox;
    const kubectl = new Kubectl(sb.kubeconfigPath, sb.kubectlBinary);
    // The webhook says ready a moment before its admission port listens: wait until it admits a dry run.
    const probe = {
      apiVersion: "redis.io/v1",
      kind: "RedisCluster",
      metadata: { name: "probe", namespace: "default" },
      spec: { instances: 1 },
    };
    await until(
      "the webhook admitting requests",
      async () =>
        (await kubectl.run(["apply", "--dry-run=server", "-f", "-"], JSON.stringify(probe))).code === 0,
    );
    ctx.started(sb, kubectl);
    ctx.say.observe(
      `API server ${sb.kubeConfig.getCurrentCluster()?.server ?? ""}; kubeconfig ${sb.kubeconfigPath}`,
    );
    ctx.say.note(
      `Try it yourself while the demo runs: kubectl --kubeconfig ${sb.kubeconfigPath} get redisclusters -A`,
    );
  },
};
