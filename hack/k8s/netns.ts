/**
 * Programs that run a real local cluster (`npm run sandbox -- --control-plane real`, `npm run demo --
 * --control-plane real`) must run inside a network namespace of their own. `runInsideNetns` prepares what
 * needs the network (the control plane's binaries, the upstream CRDs' modules) and runs the same command
 * again under hack/k8s/in-netns.sh, optionally bridging a TCP port on the machine's loopback to the inner
 * API server through a Unix socket (sockets in the file system cross network namespaces), so kubectl on the
 * machine can reach the cluster.
 */
import { spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { REPO_ROOT } from "../sandbox/sandbox.ts";

export { inPrivateNetworkNamespace } from "./control-plane.ts";

/** Builds (or finds) the binaries and fetches the CRD modules: the steps that need the network. */
export function prepareOutsideNetns(): void {
  const build = spawnSync("bash", [join(REPO_ROOT, "hack/k8s/build.sh")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (build.status !== 0) throw new Error("hack/k8s/build.sh failed (see above)");
  const crds = spawnSync(
    process.execPath,
    ["--import", "tsx", "--eval", 'await (await import("./hack/k8s/upstream-crds.ts")).upstreamCrdFiles();'],
    { cwd: REPO_ROOT, stdio: ["ignore", "ignore", "inherit"] },
  );
  if (crds.status !== 0) throw new Error("fetching the upstream CRDs' Go modules failed (see above)");
}

/**
 * Runs this process's command again inside a network namespace of its own and resolves with its exit
 * code. With `bridge`, TCP connections to bridge.host:bridge.port are passed to the Unix socket
 * bridge.socket, which the inner process serves (see `serveBridge`).
 */
export async function runInsideNetns(bridge?: {
  host: string;
  port: number;
  socket: string;
}): Promise<number> {
  prepareOutsideNetns();
  const child = spawn(
    join(REPO_ROOT, "hack/k8s/in-netns.sh"),
    [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: "inherit" },
  );
  let server: net.Server | undefined;
  if (bridge) {
    server = forwarder(() => net.connect(bridge.socket));
    server.listen(bridge.port, bridge.host);
  }
  // Signals reach the whole foreground process group; the inner command stops itself.
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  const code = await new Promise<number>((resolve) => child.on("exit", (status) => resolve(status ?? 1)));
  server?.close();
  return code;
}

/** Inside: accepts connections on the Unix socket and forwards them to host:port (the API server). */
export function serveBridge(socket: string, target: { host: string; port: number }): net.Server {
  rmSync(socket, { force: true });
  const server = forwarder(() => net.connect(target.port, target.host));
  server.listen(socket);
  return server;
}

/** A server that joins each connection to a new one made by `connect`, both ways. */
function forwarder(connect: () => net.Socket): net.Server {
  return net.createServer((client) => {
    const upstream = connect();
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
  });
}
