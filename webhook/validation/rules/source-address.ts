/**
 * Where `spec.replicaMode.source.host` may not point. The controller sends the source's password to that host
 * (Redis `masterauth`) and reports in status whether it answered, so a host on the controller's own node —
 * loopback, link-local (cloud metadata services answer at 169.254.169.254 and fd00:ec2::254), unspecified —
 * or a multicast group would turn the controller into a deputy that probes, or leaks a password to, places
 * the author of a RedisCluster cannot reach. Only IP literals are judged: a DNS name that resolves to such an
 * address is left to the cluster's egress policy (docs/security.md).
 */
import { BlockList, isIP, isIPv4 } from "node:net";
import type { FieldPath } from "../../../kube-common/field-path.ts";
import { invalid, type FieldError } from "../../../kube-common/field-errors.ts";
import { sourceOf, stringField, type RedisCluster } from "./cluster.ts";

export type AddressClass = "loopback" | "link-local" | "unspecified" | "multicast" | "broadcast" | "metadata";

const DESCRIPTION: Readonly<Record<AddressClass, string>> = {
  loopback: "a loopback address",
  "link-local": "a link-local address (where cloud metadata services answer, e.g. 169.254.169.254)",
  unspecified: "an unspecified address (0.0.0.0/8 or ::, which reach the local host)",
  multicast: "a multicast address",
  broadcast: "the broadcast address",
  metadata: "a cloud metadata service address",
};

function classifyIPv4(a: number, b: number, c: number, d: number): AddressClass | undefined {
  if (a === 127) return "loopback";
  if (a === 0) return "unspecified";
  if (a === 169 && b === 254) return "link-local";
  if (a >= 224 && a <= 239) return "multicast";
  if (a === 255 && b === 255 && c === 255 && d === 255) return "broadcast";
  return undefined;
}

/** The 16 bytes of an IPv6 address (zone dropped), or undefined when `text` is not one. */
function ipv6Bytes(text: string): number[] | undefined {
  const address = text.split("%")[0] ?? "";
  if (isIP(text) !== 6 || isIP(address) !== 6) return undefined;
  let groups = address;
  const tail: number[] = [];
  // A dotted IPv4 tail (::ffff:1.2.3.4) is the last two groups.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (dotted) {
    groups = (dotted[1] ?? "").endsWith("::") ? (dotted[1] ?? "") : (dotted[1] ?? "").slice(0, -1);
    tail.push(...(dotted[2] ?? "").split(".").map(Number));
  }
  const [head = "", rest] = groups.split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)));
  const headGroups = parse(head);
  const restGroups = rest === undefined ? [] : parse(rest);
  const missing = 8 - tail.length / 2 - headGroups.length - restGroups.length;
  const all = [...headGroups, ...Array<number>(rest === undefined ? 0 : missing).fill(0), ...restGroups];
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff]);
  bytes.push(...tail);
  return bytes.length === 16 ? bytes : undefined;
}

function classifyIPv6(bytes: readonly number[]): AddressClass | undefined {
  const [b0 = 0, b1 = 0] = bytes;
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  const v4 = () => classifyIPv4(bytes[12] ?? 0, bytes[13] ?? 0, bytes[14] ?? 0, bytes[15] ?? 0);
  if (zeros(0, 16)) return "unspecified";
  if (zeros(0, 15) && bytes[15] === 1) return "loopback";
  if (b0 === 0xfe && (b1 & 0xc0) === 0x80) return "link-local";
  if (b0 === 0xff) return "multicast";
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses carry an
  // IPv4 address that the kernel or a translator connects to.
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return v4();
  if (zeros(0, 12)) return v4();
  if (b0 === 0 && b1 === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zeros(4, 12)) return v4();
  // AWS's instance metadata service over IPv6.
  if (ipv6Bytes("fd00:ec2::254")?.every((b, i) => b === bytes[i])) return "metadata";
  return undefined;
}

/** The class of an IP literal the source may not be, or undefined (not an IP literal, or an allowed one). */
export function forbiddenAddressClass(host: string): AddressClass | undefined {
  if (isIPv4(host)) {
    const [a = 0, b = 0, c = 0, d = 0] = host.split(".").map(Number);
    return classifyIPv4(a, b, c, d);
  }
  const bytes = ipv6Bytes(host);
  return bytes === undefined ? undefined : classifyIPv6(bytes);
}

/**
 * Whether `host` is an IPv4 address in a notation other than four decimal numbers — `0x7f.1`,
 * `0x7f000001` — which the C library's resolver (inet_aton, used by getaddrinfo) reads as an address although
 * it is also a valid DNS name. All-decimal forms (`127.1`, `2130706433`) are refused as hosts already.
 */
export function isOtherIPv4Notation(host: string): boolean {
  const parts = host.replace(/\.$/, "").split(".");
  return (
    parts.length <= 4 &&
    parts.every((part) => /^(0x[0-9a-f]*|[0-9]+)$/i.test(part)) &&
    parts.some((part) => /^0x/i.test(part))
  );
}

/**
 * Address ranges an installation allows despite the rules, from `--allow-source-cidrs` (e.g. the local
 * sandbox, whose Redis servers all live on 127.0.0.0/8). Empty by default.
 */
export class AllowedSourceRanges {
  private readonly list = new BlockList();

  constructor(readonly cidrs: readonly string[] = []) {
    for (const cidr of cidrs) {
      const [network = "", prefix = ""] = cidr.split("/");
      const family = isIP(network);
      const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
      if (family === 0 || !(bits >= 0 && bits <= (family === 4 ? 32 : 128))) {
        throw new Error(`"${cidr}" is not a CIDR range such as 127.0.0.0/8 or fd00::/8`);
      }
      this.list.addSubnet(network, bits, family === 4 ? "ipv4" : "ipv6");
    }
  }

  allows(host: string): boolean {
    const family = isIP(host);
    if (family === 0 || this.cidrs.length === 0) return false;
    return this.list.check(host.split("%")[0] ?? "", family === 4 ? "ipv4" : "ipv6");
  }
}

const SOURCE_ADDRESS_DETAIL =
  "must not be a loopback, link-local, unspecified or multicast address: the controller sends the source's " +
  "password to this host";

/** The rule on `spec.replicaMode.source.host`, with the installation's allowed ranges. */
export function sourceAddressRule(allowed: AllowedSourceRanges = new AllowedSourceRanges()) {
  return (cluster: RedisCluster, path: FieldPath): FieldError[] => {
    const host = stringField(sourceOf(cluster), "host");
    if (host === undefined || host === "") return [];
    const hostPath = path.child("spec", "replicaMode", "source", "host");
    if (isOtherIPv4Notation(host)) {
      return [
        invalid(
          hostPath,
          host,
          "is an IPv4 address in hexadecimal or octal notation: write it as four decimal numbers (a.b.c.d)",
        ),
      ];
    }
    const found = forbiddenAddressClass(host);
    if (found === undefined || allowed.allows(host)) return [];
    return [invalid(hostPath, host, `${SOURCE_ADDRESS_DETAIL} (this is ${DESCRIPTION[found]})`)];
  };
}
