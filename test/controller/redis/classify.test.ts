import assert from "node:assert/strict";
import { test } from "node:test";
import { classify } from "../../../controller/redis/ioredis-admin.ts";

const cases: [string, ReturnType<typeof classify>][] = [
  ["write EPIPE", "unreachable"],
  ["connect ENETUNREACH 10.0.0.7:6379", "unreachable"],
  ["connect ECONNREFUSED 127.0.0.1:6379", "unreachable"],
  ["read ECONNRESET", "unreachable"],
  ["Connection is closed.", "unreachable"],
  ["WRONGPASS invalid username-password pair or user is disabled.", "auth"],
  ["NOAUTH Authentication required.", "auth"],
  ["LOADING Redis is loading the dataset in memory", "loading"],
  ["unable to verify the first certificate", "tls"],
  [
    "Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list: ",
    "tls-identity",
  ],
  [
    "Hostname/IP does not match certificate's altnames: Host: a.example. is not in the cert's altnames: DNS:b",
    "tls-identity",
  ],
  ["ERR unknown command 'FOO'", "command"],
];

for (const [message, kind] of cases) {
  test(`"${message}" is a ${kind} failure`, () => assert.equal(classify(message), kind));
}
