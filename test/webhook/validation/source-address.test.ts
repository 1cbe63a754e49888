import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FieldPath } from "../../../kube-common/field-path.ts";
import {
  AllowedSourceRanges,
  forbiddenAddressClass,
  isOtherIPv4Notation,
  sourceAddressRule,
  type AddressClass,
} from "../../../webhook/validation/rules/source-address.ts";
import { cluster, messages, SOURCE } from "../../support/clusters.ts";

const withHost = (host: string) => cluster({ replicaMode: { enabled: true, source: { ...SOURCE, host } } });

describe("forbiddenAddressClass", () => {
  const cases: [string, AddressClass | undefined][] = [
    ["127.0.0.1", "loopback"],
    ["127.35.60.1", "loopback"],
    ["::1", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["0:0:0:0:0:ffff:7f00:0001", "loopback"],
    ["::127.0.0.1", "loopback"],
    ["64:ff9b::127.0.0.1", "loopback"],
    ["169.254.169.254", "link-local"],
    ["169.254.0.1", "link-local"],
    ["::ffff:169.254.169.254", "link-local"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["febf:ffff::1", "link-local"],
    ["fd00:ec2::254", "metadata"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["::", "unspecified"],
    ["::ffff:0.0.0.0", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["ff02::1", "multicast"],
    ["::ffff:224.0.0.251", "multicast"],
    ["255.255.255.255", "broadcast"],
    // Allowed: ordinary unicast addresses, private ones included, and DNS names whatever they resolve to.
    ["35.123.45.67", undefined],
    ["10.0.0.5", undefined],
    ["192.168.1.10", undefined],
    ["169.255.0.1", undefined],
    ["126.255.255.255", undefined],
    ["128.0.0.1", undefined],
    ["240.0.0.1", undefined],
    ["2001:db8::1", undefined],
    ["fec0::1", undefined],
    ["fd00:ec2::253", undefined],
    ["::ffff:35.123.45.67", undefined],
    ["localhost", undefined],
    ["metadata.google.internal", undefined],
  ];
  for (const [host, expected] of cases) {
    test(`${host} → ${expected ?? "allowed"}`, () => assert.equal(forbiddenAddressClass(host), expected));
  }
});

describe("isOtherIPv4Notation", () => {
  for (const host of ["0x7f.0.0.1", "0x7f000001", "0x7F.1", "0xa9.0xfe.0xa9.0xfe", "0x7f.0.0.1."]) {
    test(`${host} is an IPv4 address in disguise`, () => assert.equal(isOtherIPv4Notation(host), true));
  }
  for (const host of [
    "127.0.0.1",
    "redis-east.example.com",
    "0xdb.example.com",
    "0x1.0x2.0x3.0x4.0x5",
    "ab.cd",
  ]) {
    test(`${host} is not`, () => assert.equal(isOtherIPv4Notation(host), false));
  }
});

describe("sourceAddressRule", () => {
  const root = FieldPath.root();

  test("refuses a link-local source, saying what it is and why it matters", () => {
    assert.deepEqual(messages(sourceAddressRule()(withHost("169.254.169.254"), root)), [
      'spec.replicaMode.source.host: Invalid value: "169.254.169.254": must not be a loopback, link-local, ' +
        "unspecified or multicast address: the controller sends the source's password to this host (this is a " +
        "link-local address (where cloud metadata services answer, e.g. 169.254.169.254))",
    ]);
  });

  test("refuses an IPv4-mapped loopback address and a hexadecimal one", () => {
    assert.deepEqual(messages(sourceAddressRule()(withHost("::ffff:127.0.0.1"), root)), [
      'spec.replicaMode.source.host: Invalid value: "::ffff:127.0.0.1": must not be a loopback, link-local, ' +
        "unspecified or multicast address: the controller sends the source's password to this host (this is a " +
        "loopback address)",
    ]);
    assert.deepEqual(messages(sourceAddressRule()(withHost("0x7f.0.0.1"), root)), [
      'spec.replicaMode.source.host: Invalid value: "0x7f.0.0.1": is an IPv4 address in hexadecimal or octal ' +
        "notation: write it as four decimal numbers (a.b.c.d)",
    ]);
  });

  test("admits public and private addresses and DNS names", () => {
    for (const host of ["35.123.45.67", "10.1.2.3", "2001:db8::7", "redis-east.example.com"]) {
      assert.deepEqual(sourceAddressRule()(withHost(host), root), [], host);
    }
  });

  test("admits a forbidden address inside a range the installation allows, and only there", () => {
    const rule = sourceAddressRule(new AllowedSourceRanges(["127.0.0.0/8", "fe80::/10"]));
    assert.deepEqual(rule(withHost("127.35.60.1"), root), []);
    assert.deepEqual(rule(withHost("fe80::1%eth0"), root), []);
    assert.equal(rule(withHost("169.254.169.254"), root).length, 1);
    assert.equal(rule(withHost("::1"), root).length, 1);
  });

  test("looks at nothing but an IP literal in source.host", () => {
    assert.deepEqual(sourceAddressRule()(cluster({}), root), []);
    assert.deepEqual(sourceAddressRule()(withHost("localhost"), root), []);
  });
});

describe("AllowedSourceRanges", () => {
  for (const cidr of ["127.0.0.1", "127.0.0.0/33", "fe80::/129", "nonsense/8", "10.0.0.0/x"]) {
    test(`refuses ${cidr}`, () =>
      assert.throws(() => new AllowedSourceRanges([cidr]), {
        message: `"${cidr}" is not a CIDR range such as 127.0.0.0/8 or fd00::/8`,
      }));
  }
});
