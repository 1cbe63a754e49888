/**
 * A TCP proxy that counts the bytes it carries, per client address and direction: the cross-region link
 * of the bytes benchmark. Pods connect from their own pod IP (the sandbox's podnet), so replication
 * traffic and the controller's own connections to the source are told apart by address.
 */
import net from "node:net";

export interface LinkBytes {
  /** From the source to the client (replication stream, replies). */
  readonly down: number;
  /** From the client to the source (commands, REPLCONF ACKs). */
  readonly up: number;
  readonly connections: number;
}

export class CountingProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly counts = new Map<string, { down: number; up: number; connections: number }>();

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, this.host, () => resolve());
    });
  }

  private accept(client: net.Socket): void {
    const address = client.remoteAddress ?? "unknown";
    const count = this.counts.get(address) ?? { down: 0, up: 0, connections: 0 };
    count.connections++;
    this.counts.set(address, count);
    const upstream = net.connect(this.target.port, this.target.host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.on("data", (chunk: Buffer) => (count.up += chunk.length));
    upstream.on("data", (chunk: Buffer) => (count.down += chunk.length));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** The port it listens on (the one asked for, or the one the system chose for port 0). */
  listeningPort(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Bytes so far per client address. */
  snapshot(): Map<string, LinkBytes> {
    return new Map([...this.counts].map(([address, c]) => [address, { ...c }]));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Sums the bytes of the addresses `select` picks, between two snapshots. */
export function bytesBetween(
  before: Map<string, LinkBytes>,
  after: Map<string, LinkBytes>,
  select: (address: string) => boolean,
): LinkBytes {
  let down = 0;
  let up = 0;
  let connections = 0;
  for (const [address, c] of after) {
    if (!select(address)) continue;
    const b = before.get(address);
    down += c.down - (b?.down ?? 0);
    up += c.up - (b?.up ?? 0);
    connections += c.connections - (b?.connections ?? 0);
  }
  return { down, up, connections };
}
