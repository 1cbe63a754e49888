/**
 * The address plan of one sandbox ("region"): everything lives in 127.R.0.0/16 so several sandboxes, and
 * several engineers' test runs, share one machine without colliding.
 *   127.R.0.1         the API server
 *   127.R.1.1 …       pod IPs (127.R.1.x – 127.R.99.x)
 *   127.R.200.1 …     Service ClusterIPs
 *   127.R.250.1 …     LoadBalancer ingress IPs
 */
export interface AddressPlan {
  readonly range: number;
  readonly apiServerIp: string;
}

export const addressPlan = (range: number): AddressPlan => {
  if (!Number.isInteger(range) || range < 1 || range > 254) throw new Error(`invalid sandbox range ${range}`);
  return { range, apiServerIp: `127.${range}.0.1` };
};

/**
 * Hands out addresses from N.R.first.1 – N.R.last.254 (N = `network`: 127 for the sandbox's loopback, 10
 * for a real cluster's network namespace), reusing released ones last.
 */
export class IpPool {
  private readonly used = new Set<string>();
  private next = 0;

  constructor(
    private readonly range: number,
    private readonly first: number,
    private readonly last: number,
    private readonly network = 127,
  ) {}

  private size(): number {
    return (this.last - this.first + 1) * 254;
  }

  private at(index: number): string {
    return `${this.network}.${this.range}.${this.first + Math.floor(index / 254)}.${(index % 254) + 1}`;
  }

  allocate(): string {
    for (let i = 0; i < this.size(); i++) {
      const ip = this.at((this.next + i) % this.size());
      if (!this.used.has(ip)) {
        this.used.add(ip);
        this.next = (this.next + i + 1) % this.size();
        return ip;
      }
    }
    throw new Error(`address pool ${this.network}.${this.range}.${this.first}.0 exhausted`);
  }

  /** Claims a specific address (a Service that asks for its clusterIP); false when taken or foreign. */
  claim(ip: string): boolean {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
    if (
      !m ||
      Number(m[1]) !== this.network ||
      Number(m[2]) !== this.range ||
      Number(m[3]) < this.first ||
      Number(m[3]) > this.last
    )
      return false;
    if (this.used.has(ip)) return false;
    this.used.add(ip);
    return true;
  }

  release(ip: string | undefined): void {
    if (ip) this.used.delete(ip);
  }
}
