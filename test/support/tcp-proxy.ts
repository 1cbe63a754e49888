/**
 * A TCP proxy a test can cut and heal, to partition a replication link without touching either Redis.
 */
import net from "node:net";

export class TcpProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly clientSockets = new Set<net.Socket>();
  /** Remote addresses cut off; `"*"` cuts everyone. */
  private readonly cut = new Set<string>();

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
    if (this.isCut(client.remoteAddress)) {
      client.destroy();
      return;
    }
    this.clientSockets.add(client);
    client.on("close", () => this.clientSockets.delete(client));
    const upstream = net.connect(this.target.port, this.target.host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private isCut(address: string | undefined): boolean {
    return this.cut.has("*") || (address !== undefined && this.cut.has(address));
  }

  /**
   * Drops the connections from `clients` (every client when not given) and refuses theirs until `heal`.
   * Redis replicas show up with their own address when started with `bind-source-addr`.
   */
  partition(clients: readonly string[] = ["*"]): void {
    for (const client of clients) this.cut.add(client);
    for (const socket of this.clientSockets) {
      if (this.isCut(socket.remoteAddress)) socket.destroy();
    }
  }

  heal(): void {
    this.cut.clear();
  }

  async stop(): Promise<void> {
    this.partition();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
