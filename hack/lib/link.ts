/**
 * The network between two regions, as a TCP proxy the drill can cut (connections dropped, new ones refused),
 * throttle (a slow link: bytes trickle through at a set rate, each connection in order) and heal.
 */
import net from "node:net";

/** One direction of one connection: bytes waiting to go out, in order. */
interface Lane {
  readonly to: net.Socket;
  readonly queue: Buffer[];
}

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  readonly lanes: readonly Lane[];
}

const TICK_MS = 50;

export class RegionLink {
  private readonly server: net.Server;
  private readonly pairs = new Set<Pair>();
  private state: "open" | "cut" | "throttled" = "open";
  private bytesPerTick = Infinity;
  private pump: NodeJS.Timeout | undefined;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  get linkState(): "open" | "cut" | "throttled" {
    return this.state;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, this.host, () => resolve());
    });
  }

  private accept(client: net.Socket): void {
    if (this.state === "cut") {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    const toUpstream: Lane = { to: upstream, queue: [] };
    const toClient: Lane = { to: client, queue: [] };
    const pair: Pair = { client, upstream, lanes: [toUpstream, toClient] };
    this.pairs.add(pair);
    for (const socket of [client, upstream]) socket.on("error", () => undefined);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on("close", close);
    upstream.on("close", close);
    // Forwarded by hand rather than piped, so a throttled link can hold bytes back.
    const forward = (lane: Lane) => (chunk: Buffer) => {
      if (this.state === "open" && lane.queue.length === 0) lane.to.write(chunk);
      else lane.queue.push(chunk);
    };
    client.on("data", forward(toUpstream));
    upstream.on("data", forward(toClient));
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

  /** Lets at most `bytesPerSecond` through per direction of each connection; connections stay up. */
  throttle(bytesPerSecond: number): void {
    this.state = "throttled";
    this.bytesPerTick = Math.max(1, Math.floor((bytesPerSecond * TICK_MS) / 1000));
    this.pump ??= setInterval(() => this.release(), TICK_MS);
  }

  private release(): void {
    for (const pair of this.pairs) {
      for (const lane of pair.lanes) {
        let budget = this.state === "open" ? Infinity : this.bytesPerTick;
        while (budget > 0 && lane.queue.length > 0) {
          const chunk = lane.queue[0] as Buffer;
          if (chunk.length <= budget) {
            lane.queue.shift();
            lane.to.write(chunk);
            budget -= chunk.length;
          } else {
            lane.to.write(chunk.subarray(0, budget));
            lane.queue[0] = chunk.subarray(budget);
            budget = 0;
          }
        }
      }
    }
    if (
      this.state !== "throttled" &&
      [...this.pairs].every((p) => p.lanes.every((l) => l.queue.length === 0))
    ) {
      clearInterval(this.pump);
      this.pump = undefined;
    }
  }

  /** Back to a normal link; bytes held back by a throttle are delivered first. */
  heal(): void {
    this.state = "open";
    if (this.pump !== undefined) this.release();
  }

  async stop(): Promise<void> {
    this.cut();
    clearInterval(this.pump);
    this.pump = undefined;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
