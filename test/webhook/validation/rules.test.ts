import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FieldPath } from "../../../kube-common/field-path.ts";
import { validateClusterName } from "../../../webhook/validation/rules/cluster-name.ts";
import { validateInstanceCounts } from "../../../webhook/validation/rules/instance-counts.ts";
import {
  isOwnService,
  isValidHost,
  validateReplicaSource,
} from "../../../webhook/validation/rules/replica-source.ts";
import { validatePromoteRevert } from "../../../webhook/validation/rules/promote-revert.ts";
import { validateStorageUnchanged } from "../../../webhook/validation/rules/storage-unchanged.ts";
import { validateHandoff } from "../../../webhook/validation/rules/handoff.ts";
import {
  NO_AUTH_SECRET_WARNING,
  warnDataReplaced,
  warnNoAuthSecret,
  warnPromotionWithoutSync,
} from "../../../webhook/validation/rules/warnings.ts";
import { secretRequirements } from "../../../webhook/validation/rules/secret-references.ts";
import { validationRules } from "../../../webhook/validation/rules/index.ts";
import type { RedisCluster } from "../../../schemas/generated/rediscluster.ts";
import {
  SOURCE,
  TOKEN,
  cluster,
  mergePatch,
  messages,
  promoted,
  promotedThenOff,
  promotionPending,
  replicating,
  standalone,
} from "../../support/clusters.ts";
import { commandIn, shellArguments } from "../../support/command.ts";

const root = FieldPath.root();

describe("validateClusterName", () => {
  const named = (name: string): RedisCluster => ({ ...standalone, metadata: { name, namespace: "default" } });
  const refused = (name: string) =>
    `metadata.name: Invalid value: ${JSON.stringify(name)}: must be at most 52 characters of lowercase ` +
    "letters, digits and '-', starting with a letter and ending with a letter or digit (a DNS-1035 label): it " +
    "names this cluster's Services (<name>-headless, <name>-leader, <name>-replicas) and its StatefulSet, " +
    "whose pods are labelled controller-revision-hash: <name>-<hash of up to 10 characters>, at most 63 " +
    "characters";
  const cases: { name: string; value: string; errors: string[] }[] = [
    { name: "accepts 52 characters", value: "a".repeat(52), errors: [] },
    { name: "accepts letters, digits and dashes", value: "redis-west-2", errors: [] },
    { name: "denies 53 characters", value: "a".repeat(53), errors: [refused("a".repeat(53))] },
    { name: "denies a leading digit and a dot", value: "1abc.def", errors: [refused("1abc.def")] },
    { name: "denies upper case", value: "Abc", errors: [refused("Abc")] },
    { name: "denies a trailing dash", value: "a-", errors: [refused("a-")] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(messages(validateClusterName(named(c.value), root)), c.errors);
    });
  }

  test("is one of the webhook's rules", () => {
    assert.ok(validationRules.includes(validateClusterName));
  });
});

describe("validateStorageUnchanged", () => {
  const REFUSED =
    "spec.storage: Forbidden: storage cannot be added, removed or changed on an existing cluster, because a " +
    "StatefulSet's volume claim templates are immutable: instead, create a new RedisCluster with the storage " +
    "you want, let it replicate from this one with replica mode (source.host: this cluster's <name>-leader " +
    "Service), then promote it";
  const withStorage = cluster({ storage: { size: "100Gi", storageClass: "fast" } });
  const cases: { name: string; old: RedisCluster; patch: unknown; errors: string[] }[] = [
    {
      name: "denies adding storage",
      old: standalone,
      patch: { spec: { storage: { size: "1Gi" } } },
      errors: [REFUSED],
    },
    {
      name: "denies removing storage",
      old: withStorage,
      patch: { spec: { storage: null } },
      errors: [REFUSED],
    },
    {
      name: "denies changing storage.size",
      old: withStorage,
      patch: { spec: { storage: { size: "200Gi" } } },
      errors: [REFUSED],
    },
    {
      name: "denies changing storage.storageClass",
      old: withStorage,
      patch: { spec: { storage: { storageClass: "slow" } } },
      errors: [REFUSED],
    },
    {
      name: "denies removing storage.storageClass",
      old: withStorage,
      patch: { spec: { storage: { storageClass: null } } },
      errors: [REFUSED],
    },
    {
      name: "accepts other changes to a cluster with storage",
      old: withStorage,
      patch: { spec: { instances: 5, storage: { size: "100Gi" } } },
      errors: [],
    },
    {
      name: "accepts other changes to a cluster without storage",
      old: standalone,
      patch: { spec: { instances: 5 } },
      errors: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(messages(validateStorageUnchanged(mergePatch(c.old, c.patch), root, c.old)), c.errors);
    });
  }

  test("accepts any storage on CREATE", () => {
    assert.deepEqual(validateStorageUnchanged(withStorage, root), []);
  });

  test("is one of the webhook's rules", () => {
    assert.ok(validationRules.includes(validateStorageUnchanged));
  });
});

describe("validateInstanceCounts", () => {
  const cases: { name: string; spec: Record<string, unknown>; errors: string[] }[] = [
    {
      name: "accepts 3 instances with 2 sync replicas",
      spec: { instances: 3, minSyncReplicas: 2 },
      errors: [],
    },
    {
      name: "accepts a single instance with no sync replicas",
      spec: { instances: 1, minSyncReplicas: 0 },
      errors: [],
    },
    {
      name: "denies 0 instances",
      spec: { instances: 0 },
      errors: ["spec.instances: Invalid value: 0: must be between 1 and 16"],
    },
    {
      name: "denies 17 instances",
      spec: { instances: 17 },
      errors: ["spec.instances: Invalid value: 17: must be between 1 and 16"],
    },
    {
      name: "accepts the most instances there may be",
      spec: { instances: 16, minSyncReplicas: 15 },
      errors: [],
    },
    {
      name: "denies as many sync replicas as instances",
      spec: { instances: 3, minSyncReplicas: 3 },
      errors: [
        "spec.minSyncReplicas: Invalid value: 3: must be at most instances - 1 (2): the primary would refuse writes",
      ],
    },
    {
      name: "measures sync replicas against the default of 1 instance when instances is absent",
      spec: { instances: undefined, minSyncReplicas: 1 },
      errors: [
        "spec.minSyncReplicas: Invalid value: 1: must be at most instances - 1 (0): the primary would refuse writes",
      ],
    },
    {
      name: "does not measure sync replicas against an invalid instance count",
      spec: { instances: -1, minSyncReplicas: 4 },
      errors: ["spec.instances: Invalid value: -1: must be between 1 and 16"],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(messages(validateInstanceCounts(cluster(c.spec), root)), c.errors);
    });
  }
});

describe("validateReplicaSource", () => {
  const withSource = (source: Record<string, unknown>, enabled = true) =>
    cluster({ replicaMode: { enabled, source } });
  const cases: { name: string; object: RedisCluster; errors: string[] }[] = [
    { name: "accepts a cluster without replica mode", object: standalone, errors: [] },
    { name: "accepts the reference's DR cluster", object: replicating, errors: [] },
    {
      name: "denies enabled without a source",
      object: cluster({ replicaMode: { enabled: true } }),
      errors: [
        "spec.replicaMode.source.host: Required value: replica mode (enabled: true) needs the source's host",
      ],
    },
    {
      name: "accepts disabled replica mode without a source",
      object: cluster({ replicaMode: { enabled: false } }),
      errors: [],
    },
    {
      name: "denies port 70000",
      object: withSource({ host: "35.123.45.67", port: 70000 }),
      errors: ["spec.replicaMode.source.port: Invalid value: 70000: must be between 1 and 65535"],
    },
    {
      name: "denies port 0",
      object: withSource({ host: "35.123.45.67", port: 0 }),
      errors: ["spec.replicaMode.source.port: Invalid value: 0: must be between 1 and 65535"],
    },
    { name: "accepts port 65535", object: withSource({ host: "35.123.45.67", port: 65535 }), errors: [] },
    {
      name: "checks the port even while replica mode is disabled",
      object: withSource({ host: "35.123.45.67", port: 65536 }, false),
      errors: ["spec.replicaMode.source.port: Invalid value: 65536: must be between 1 and 65535"],
    },
    {
      name: "denies a host with a port in it",
      object: withSource({ host: "redis.example.com:6379" }),
      errors: [
        'spec.replicaMode.source.host: Invalid value: "redis.example.com:6379": must be a DNS name or an IP ' +
          "address (without a port: the port goes in spec.replicaMode.source.port)",
      ],
    },
    {
      name: "denies the cluster's own leader Service",
      object: withSource({ host: "redis-west-leader.default.svc.cluster.local" }),
      errors: [
        'spec.replicaMode.source.host: Invalid value: "redis-west-leader.default.svc.cluster.local": is a Service ' +
          "of this RedisCluster (redis-west in namespace default): a cluster cannot replicate from itself",
      ],
    },
    {
      name: "reports a bad port and a self-loop together",
      object: withSource({ host: "redis-west-replicas", port: 99999 }),
      errors: [
        "spec.replicaMode.source.port: Invalid value: 99999: must be between 1 and 65535",
        'spec.replicaMode.source.host: Invalid value: "redis-west-replicas": is a Service of this RedisCluster ' +
          "(redis-west in namespace default): a cluster cannot replicate from itself",
      ],
    },
    {
      name: "ignores values of the wrong type (the schema reports them)",
      object: withSource({ host: 42, port: "6379" }),
      errors: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(messages(validateReplicaSource(c.object, root)), c.errors);
    });
  }

  describe("isValidHost", () => {
    const valid = [
      "35.123.45.67",
      "::1",
      "2001:db8::1",
      "prod-redis-leader.production.svc.cluster.local",
      "redis.us-east.example.com.",
      "Redis.Example.COM",
      "localhost",
    ];
    const invalidHosts = [
      "redis:6379",
      "http://redis.example.com",
      "-bad.example.com",
      "bad-.example.com",
      "999.1.1.1",
      "a..b",
      "under_score.example.com",
      `${"a".repeat(64)}.example.com`,
      "[::1]",
      "redis example.com",
    ];
    for (const host of valid) test(`accepts ${host}`, () => assert.equal(isValidHost(host), true));
    for (const host of invalidHosts) test(`denies ${host}`, () => assert.equal(isValidHost(host), false));
  });

  describe("isOwnService (cluster redis-west in namespace default)", () => {
    const own = [
      "redis-west-leader",
      "redis-west-leader.default",
      "redis-west-leader.default.svc",
      "redis-west-leader.default.svc.cluster.local",
      "REDIS-WEST-LEADER.default.svc.cluster.local.",
      "redis-west-replicas.default.svc",
      "redis-west-headless.default.svc.cluster.local",
      "redis-west-0.redis-west-headless.default.svc.cluster.local",
      "redis-west-2.redis-west-headless",
      "redis-west-leader.default.svc.corp.internal",
    ];
    const notOwn = [
      "redis-west-leader.production.svc.cluster.local",
      "redis-west-leader.production",
      "redis-east-leader",
      "redis-west-leader.default.example.com",
      "redis-westward",
      "redis-west",
      "redis-west-read",
      "redis-west-0.redis-west",
      "35.123.45.67",
    ];
    for (const host of own)
      test(`${host} is its own`, () => assert.equal(isOwnService(host, "redis-west", "default"), true));
    for (const host of notOwn) {
      test(`${host} is not its own`, () => assert.equal(isOwnService(host, "redis-west", "default"), false));
    }
  });
});

const REVERT = (field: "promote" | "enabled", patch: string) =>
  `spec.replicaMode.${field}: Forbidden: reverting a completed promotion discards every write made since the ` +
  `promotion; to confirm, set spec.replicaMode.demotionToken to "${TOKEN}" in the same request, e.g. ` +
  `kubectl patch rediscluster redis-west -n default --type=merge -p '${patch}'`;
const TURN_OFF =
  "spec.replicaMode.enabled: Forbidden: cannot turn replica mode off while replicating: promote first " +
  "(spec.replicaMode.promote: true)";
const NEEDS_SOURCE = "spec.replicaMode.promote: Forbidden: promote requires enabled: true and a source";
const ON_CREATE =
  "spec.replicaMode.promote: Forbidden: cannot be set when the RedisCluster is created: create it replicating, " +
  "then promote it";

describe("validatePromoteRevert", () => {
  const createCases: { name: string; object: RedisCluster; errors: string[] }[] = [
    { name: "accepts creating a replicating cluster", object: replicating, errors: [] },
    {
      name: "denies promote on CREATE",
      object: mergePatch(replicating, { spec: { replicaMode: { promote: true } } }),
      errors: [ON_CREATE],
    },
    {
      name: "denies promote on CREATE without a source, with both reasons",
      object: cluster({ replicaMode: { promote: true } }),
      errors: [NEEDS_SOURCE, ON_CREATE],
    },
  ];
  for (const c of createCases) {
    test(`CREATE: ${c.name}`, () => {
      assert.deepEqual(messages(validatePromoteRevert(c.object, root)), c.errors);
    });
  }

  const updateCases: { name: string; old: RedisCluster; patch: unknown; errors: string[] }[] = [
    {
      name: "accepts promoting a replicating cluster",
      old: replicating,
      patch: { spec: { replicaMode: { promote: true } } },
      errors: [],
    },
    {
      name: "denies promoting a cluster that does not replicate",
      old: standalone,
      patch: { spec: { replicaMode: { promote: true } } },
      errors: [NEEDS_SOURCE],
    },
    {
      name: "denies promoting with replica mode disabled in the same request",
      old: replicating,
      patch: { spec: { replicaMode: { promote: true, enabled: false } } },
      errors: [NEEDS_SOURCE, TURN_OFF],
    },
    {
      name: "denies promoting after deleting the source with null",
      old: replicating,
      patch: { spec: { replicaMode: { promote: true, source: null } } },
      errors: [NEEDS_SOURCE],
    },
    {
      name: "denies turning replica mode off while replicating",
      old: replicating,
      patch: { spec: { replicaMode: { enabled: false } } },
      errors: [TURN_OFF],
    },
    {
      name: "denies deleting replicaMode with null while replicating",
      old: replicating,
      patch: { spec: { replicaMode: null } },
      errors: [TURN_OFF],
    },
    {
      name: "denies deleting enabled with null while replicating",
      old: replicating,
      patch: { spec: { replicaMode: { enabled: null } } },
      errors: [TURN_OFF],
    },
    {
      name: "denies reverting a completed promotion with promote: false",
      old: promoted,
      patch: { spec: { replicaMode: { promote: false } } },
      errors: [REVERT("promote", `{"spec":{"replicaMode":{"promote":false,"demotionToken":"${TOKEN}"}}}`)],
    },
    {
      name: "denies reverting a completed promotion by deleting promote with null",
      old: promoted,
      patch: { spec: { replicaMode: { promote: null } } },
      errors: [REVERT("promote", `{"spec":{"replicaMode":{"promote":false,"demotionToken":"${TOKEN}"}}}`)],
    },
    {
      name: "denies reverting a completed promotion with the wrong token",
      old: promoted,
      patch: { spec: { replicaMode: { promote: false, demotionToken: "not-the-id" } } },
      errors: [REVERT("promote", `{"spec":{"replicaMode":{"promote":false,"demotionToken":"${TOKEN}"}}}`)],
    },
    {
      name: "accepts reverting a completed promotion with the token",
      old: promoted,
      patch: { spec: { replicaMode: { promote: false, demotionToken: TOKEN } } },
      errors: [],
    },
    {
      name: "accepts leaving replica mode altogether after a completed promotion",
      old: promoted,
      patch: { spec: { replicaMode: null } },
      errors: [],
    },
    {
      name: "denies re-enabling replica mode after a completed promotion",
      old: promotedThenOff,
      patch: { spec: { replicaMode: { enabled: true } } },
      errors: [REVERT("enabled", `{"spec":{"replicaMode":{"enabled":true,"demotionToken":"${TOKEN}"}}}`)],
    },
    {
      name: "denies re-enabling towards a new source after a completed promotion, naming the new source",
      old: promotedThenOff,
      patch: { spec: { replicaMode: { enabled: true, source: { host: "redis.us-east.example.com" } } } },
      errors: [
        REVERT(
          "enabled",
          `{"spec":{"replicaMode":{"enabled":true,"source":{"host":"redis.us-east.example.com"},"demotionToken":"${TOKEN}"}}}`,
        ),
      ],
    },
    {
      name: "accepts re-enabling after a completed promotion with the token",
      old: promotedThenOff,
      patch: { spec: { replicaMode: { enabled: true, demotionToken: TOKEN } } },
      errors: [],
    },
    {
      name: "accepts reverting a promotion that never completed",
      old: promotionPending,
      patch: { spec: { replicaMode: { promote: false } } },
      errors: [],
    },
    {
      name: "accepts a never-promoted standalone cluster enabling replica mode",
      old: standalone,
      patch: { spec: { replicaMode: { enabled: true, source: SOURCE } } },
      errors: [],
    },
    {
      name: "accepts an unrelated change to a promoted cluster",
      old: promoted,
      patch: { spec: { instances: 5 } },
      errors: [],
    },
  ];
  for (const c of updateCases) {
    test(`UPDATE: ${c.name}`, () => {
      const object = mergePatch(c.old, c.patch);
      assert.deepEqual(messages(validatePromoteRevert(object, root, c.old)), c.errors);
    });
  }

  test("the printed command, run as is by a shell, makes an update every rule accepts", () => {
    for (const c of updateCases.filter((u) => u.errors.some((e) => e.includes("kubectl patch")))) {
      const object = mergePatch(c.old, c.patch);
      const [error] = validatePromoteRevert(object, root, c.old);
      const { args, patch } = shellArguments(commandIn(error?.detail ?? ""));
      assert.deepEqual(args.slice(0, 6), [
        "patch",
        "rediscluster",
        "redis-west",
        "-n",
        "default",
        "--type=merge",
      ]);
      const confirmed = mergePatch(c.old, patch);
      assert.deepEqual(
        validationRules.flatMap((rule) => messages(rule(confirmed, root, c.old))),
        [],
        c.name,
      );
    }
  });

  test("quotes a token with shell metacharacters so the command still works", () => {
    const token = `it's $(echo pwned) "x"`;
    const old = mergePatch(promoted, { status: { promotion: { replicationId: token } } });
    const object = mergePatch(old, { spec: { replicaMode: { promote: false } } });
    const [error] = validatePromoteRevert(object, root, old);
    assert.ok(error?.detail.includes(`'\\''`));
    const { patch } = shellArguments(commandIn(error?.detail ?? ""));
    assert.deepEqual(patch, { spec: { replicaMode: { promote: false, demotionToken: token } } });
  });
});

describe("warnings", () => {
  const cases: { name: string; old?: RedisCluster; patch: unknown; warnings: string[] }[] = [
    {
      name: "warns that a never-promoted standalone cluster's data will be replaced",
      old: standalone,
      patch: { spec: { replicaMode: { enabled: true, source: SOURCE } } },
      warnings: [
        "spec.replicaMode.enabled: data will be replaced by a full copy of redis-east (35.123.45.67:6379); keys " +
          "written here are lost",
      ],
    },
    {
      name: "warns that a never-promoted primary joining by hand-off hands its role over, with the pause bound",
      old: standalone,
      patch: {
        spec: { replicaMode: { enabled: true, source: SOURCE, joinBy: "Handoff", handoffTimeoutSeconds: 5 } },
      },
      warnings: [
        "spec.replicaMode.joinBy: the primary role will be handed over to redis-east (35.123.45.67:6379); writes " +
          "pause up to 5s",
      ],
    },
    {
      name: "says the default hand-off timeout, 10 s, when none is given",
      old: standalone,
      patch: { spec: { replicaMode: { enabled: true, source: SOURCE, joinBy: "Handoff" } } },
      warnings: [
        "spec.replicaMode.joinBy: the primary role will be handed over to redis-east (35.123.45.67:6379); writes " +
          "pause up to 10s",
      ],
    },
    {
      name: "warns of a hand-over, not a copy, when a completed promotion is demoted with joinBy: Handoff",
      old: promoted,
      patch: { spec: { replicaMode: { promote: false, demotionToken: TOKEN, joinBy: "Handoff" } } },
      warnings: [
        "spec.replicaMode.joinBy: the primary role will be handed over to redis-east (35.123.45.67:6379); writes " +
          "pause up to 10s",
      ],
    },
    {
      name: "warns that a confirmed demotion discards the writes since the promotion",
      old: promoted,
      patch: { spec: { replicaMode: { promote: false, demotionToken: TOKEN } } },
      warnings: [
        "spec.replicaMode.enabled: data will be replaced by a full copy of redis-east (35.123.45.67:6379); writes " +
          "since the promotion are lost",
      ],
    },
    {
      name: "does not warn when a new cluster is created replicating",
      patch: {},
      warnings: [],
    },
    {
      name: "does not warn when promoting with the link up",
      old: mergePatch(replicating, { status: { replication: { linkStatus: "Up", lagBytes: 0 } } }),
      patch: { spec: { replicaMode: { promote: true } } },
      warnings: [],
    },
    {
      name: "warns with the known lag when promoting with the link down",
      old: mergePatch(replicating, {
        status: { replication: { linkStatus: "Down", linkDownSeconds: 120, lagBytes: 4096 } },
      }),
      patch: { spec: { replicaMode: { promote: true } } },
      warnings: [
        "spec.replicaMode.promote: replication link down for 120s; last known lag 4096 bytes: unreplicated writes are lost",
      ],
    },
    {
      name: "warns when promoting a leader that never finished its first sync",
      old: mergePatch(replicating, { status: { replication: { linkStatus: "Syncing" } } }),
      patch: { spec: { replicaMode: { promote: true } } },
      warnings: [
        "spec.replicaMode.promote: the first full sync from the source has not finished; lag unknown: unreplicated " +
          "writes are lost",
      ],
    },
    {
      name: "warns that the link is unknown when the controller could not ask the leader",
      old: mergePatch(replicating, { status: { replication: { linkStatus: "Unknown", lagBytes: 512 } } }),
      patch: { spec: { replicaMode: { promote: true } } },
      warnings: [
        "spec.replicaMode.promote: the controller could not read the leader's link; last known lag 512 bytes: " +
          "unreplicated writes are lost",
      ],
    },
    {
      name: "warns when promoting with no replication status at all",
      old: replicating,
      patch: { spec: { replicaMode: { promote: true } } },
      warnings: [
        "spec.replicaMode.promote: the leader was never seen in sync with the source; lag unknown: unreplicated " +
          "writes are lost",
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const object = mergePatch(c.old ?? replicating, c.patch);
      assert.deepEqual(
        [...warnDataReplaced(object, c.old), ...warnPromotionWithoutSync(object, c.old)],
        c.warnings,
      );
    });
  }
});

describe("warnNoAuthSecret", () => {
  test("warns, in under 120 characters, when the cluster's Redis would take clients without a password", () => {
    assert.deepEqual(warnNoAuthSecret(cluster({})), [
      "spec.authSecret: not set: any pod that reaches this cluster's Redis can read and write it without a password",
    ]);
    assert.ok(NO_AUTH_SECRET_WARNING.length < 120);
    assert.deepEqual(warnNoAuthSecret(cluster({ authSecret: {} }), replicating), [NO_AUTH_SECRET_WARNING]);
  });

  test("says nothing when authSecret names a Secret", () => {
    assert.deepEqual(warnNoAuthSecret(cluster({ authSecret: { name: "redis-password" } })), []);
  });
});

describe("secretRequirements", () => {
  const withSecrets = cluster({
    authSecret: { name: "redis-password" },
    tlsSecret: { name: "redis-tls" },
    replicaMode: { enabled: true, source: { ...SOURCE, authSecretName: "redis-east-auth" } },
  });
  const summary = (object: RedisCluster, old?: RedisCluster) =>
    secretRequirements(object, root, old).map((r) => `${r.path.toString()}=${r.name} [${r.keys.join(",")}]`);

  test("CREATE checks every referenced Secret with its keys", () => {
    assert.deepEqual(summary(withSecrets), [
      "spec.authSecret.name=redis-password [password]",
      "spec.tlsSecret.name=redis-tls [tls.crt,tls.key,ca.crt]",
      "spec.replicaMode.source.authSecretName=redis-east-auth [password]",
    ]);
  });
  test("UPDATE that leaves the references alone checks none (a promotion during an outage)", () => {
    const promoting = mergePatch(withSecrets, { spec: { replicaMode: { promote: true } } });
    assert.deepEqual(summary(promoting, withSecrets), []);
  });
  test("UPDATE checks only the reference that changed", () => {
    const changed = mergePatch(withSecrets, {
      spec: { replicaMode: { source: { authSecretName: "new-auth" } } },
    });
    assert.deepEqual(summary(changed, withSecrets), [
      "spec.replicaMode.source.authSecretName=new-auth [password]",
    ]);
  });
  test("UPDATE checks a reference that was added", () => {
    assert.deepEqual(
      summary(mergePatch(standalone, { spec: { tlsSecret: { name: "redis-tls" } } }), standalone),
      ["spec.tlsSecret.name=redis-tls [tls.crt,tls.key,ca.crt]"],
    );
  });
  test("UPDATE that removes a reference checks nothing", () => {
    assert.deepEqual(summary(mergePatch(withSecrets, { spec: { authSecret: null } }), withSecrets), []);
  });
  test("names that cannot be Secret names are left to the schema", () => {
    assert.deepEqual(summary(cluster({ authSecret: { name: "Not_A_Name" } })), []);
  });
});

describe("validateHandoff", () => {
  const ADDRESS = { host: "34.1.2.3", port: 6379 };
  const cases: { name: string; old?: RedisCluster; patch: unknown; errors: string[] }[] = [
    {
      name: "accepts promoteBy: Handoff with promote: true and a handoffAddress",
      patch: { spec: { replicaMode: { promote: true, promoteBy: "Handoff", handoffAddress: ADDRESS } } },
      errors: [],
    },
    {
      name: "denies promoteBy: Handoff without a handoffAddress",
      patch: { spec: { replicaMode: { promote: true, promoteBy: "Handoff" } } },
      errors: [
        "spec.replicaMode.handoffAddress: Required value: promoteBy: Handoff needs handoffAddress: the address " +
          "the source's region reaches the leader at",
      ],
    },
    {
      name: "denies promoteBy: Handoff without promote: true, and without an address, at once",
      patch: { spec: { replicaMode: { promoteBy: "Handoff" } } },
      errors: [
        "spec.replicaMode.handoffAddress: Required value: promoteBy: Handoff needs handoffAddress: the address " +
          "the source's region reaches the leader at",
        'spec.replicaMode.promoteBy: Invalid value: "Handoff": promoteBy: Handoff needs promote: true',
      ],
    },
    {
      name: "accepts joinBy: Handoff on a cluster replicating from a source",
      patch: { spec: { replicaMode: { joinBy: "Handoff", handoffTimeoutSeconds: 10, handoffAttempt: 1 } } },
      errors: [],
    },
    {
      name: "denies joinBy: Handoff with promote: true",
      patch: { spec: { replicaMode: { joinBy: "Handoff", promote: true } } },
      errors: [
        'spec.replicaMode.joinBy: Invalid value: "Handoff": joinBy: Handoff makes this cluster a replica of its ' +
          "source: it cannot be set with promote: true",
      ],
    },
    {
      name: "denies joinBy: Handoff without replica mode enabled",
      patch: { spec: { replicaMode: { joinBy: "Handoff", enabled: false } } },
      errors: [
        'spec.replicaMode.joinBy: Invalid value: "Handoff": joinBy: Handoff needs enabled: true and a source to ' +
          "hand over to",
      ],
    },
    {
      name: "accepts promoteBy: Break and joinBy: Copy (the defaults)",
      patch: { spec: { replicaMode: { promoteBy: "Break", joinBy: "Copy" } } },
      errors: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(messages(validateHandoff(mergePatch(c.old ?? replicating, c.patch), root)), c.errors);
    });
  }

  test("is one of the webhook's rules", () => {
    assert.ok(validationRules.includes(validateHandoff));
  });
});
