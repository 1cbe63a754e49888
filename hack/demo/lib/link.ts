/**
 * The network between two regions, as a TCP proxy the drill can cut (connections dropped, new ones refused),
 * stall (bytes held back while connections stay open: a link that is up but slow) and heal.
 */
import net from "node:net";

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Bytes held back while stalled, in order. */
  readonly held: { to: net.Socket; chunk: Buffer }[];
}

export class RegionLink {
  private readonly server: net.Server;
  private readonly pairs = new Set<Pair>();
  private state: "open" | "cut" | "stalled" = "open";

  constructor(
    readonly host: string,
    readonly port: number,
    private target: { host: string; port: number },
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  get address(): { host: string; port: number } {
    return { host: this.host, port: this.port };
  }

  get linkState(): "open" | "cut" | "stalled" {
    return this.state;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, this.host, () => resolve());
    });
  }

  /** Where the far side lives now (a LoadBalancer address that changed); open connections are kept. */
  retarget(target: { host: string; port: number }): void {
    this.target = target;
  }

  private accept(client: net.Socket): void {
    if (this.state === "cut") {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    const pair: Pair = { client, upstream, held: [] };
    this.pairs.add(pair);
    for (const socket of [client, upstream]) socket.on("error", () => undefined);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on("close", close);
    upstream.on("close", close);
    // Forwarded by hand rather than piped: a piped stream resumes by itself, a stalled link must not.
    const forward = (to: net.Socket) => (chunk: Buffer) => {
      if (this.state === "stalled") pair.held.push({ to, chunk });
      else to.write(chunk);
    };
    client.on("data", forward(upstream));
    upstream.on("data", forward(client));
  }

  /** Drops every connection and refuses new ones until `heal`. */
  cut(): void {
    this.state = "cut";
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Keeps connections open but forwards nothing: the replica's link looks up while the lag grows. */
  stall(): void {
    this.state = "stalled";
  }

  heal(): void {
    this.state = "open";
    for (const pair of this.pairs) {
      for (const { to, chunk } of pair.held.splice(0)) to.write(chunk);
    }
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
