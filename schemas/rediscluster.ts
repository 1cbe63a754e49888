/**
 * The RedisCluster (redis.io/v1) API, written once.
 *
 * This object is the CRD's openAPIV3Schema (see crd.ts), the schema the webhook's ajv validator compiles
 * (webhook/validation/structural.ts imports it as is), and the input of the TypeScript type generator.
 * It only uses what a Kubernetes structural schema allows: every node is typed, `default` values are valid
 * against their own node, and the `x-kubernetes-*` extensions carry what JSON Schema cannot say.
 */

export const GROUP = "redis.io";
export const VERSION = "v1";
export const KIND = "RedisCluster";
export const LIST_KIND = "RedisClusterList";
export const PLURAL = "redisclusters";
export const SINGULAR = "rediscluster";
/** Not `rc`: that is core/v1 ReplicationController's, and `kubectl get rc` would list those. */
export const SHORT_NAMES = ["rdc"] as const;
export const API_VERSION = `${GROUP}/${VERSION}`;

/** A Kubernetes CEL validation rule, as it appears under `x-kubernetes-validations`. */
export interface CelRule {
  readonly rule: string;
  readonly message?: string;
  readonly messageExpression?: string;
  readonly reason?:
    "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
  readonly fieldPath?: string;
}

/** The subset of JSON Schema (plus Kubernetes extensions) a structural CRD schema may use. */
export interface SchemaNode {
  readonly type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  readonly description?: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: SchemaNode | boolean;
  readonly items?: SchemaNode;
  readonly enum?: readonly (string | number)[];
  readonly default?: unknown;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly maxItems?: number;
  readonly maxProperties?: number;
  readonly pattern?: string;
  readonly format?: string;
  readonly anyOf?: readonly SchemaNode[];
  readonly "x-kubernetes-int-or-string"?: true;
  readonly "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  readonly "x-kubernetes-list-map-keys"?: readonly string[];
  readonly "x-kubernetes-map-type"?: "atomic" | "granular";
  readonly "x-kubernetes-validations"?: readonly CelRule[];
}

/** Kubernetes resource.Quantity, as controller-gen writes it. */
const QUANTITY_PATTERN =
  "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$";

/** A DNS-1123 subdomain: the shape of a Secret's name. */
const DNS1123_SUBDOMAIN_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

const quantity = (description: string): SchemaNode => ({
  description,
  anyOf: [{ type: "integer" }, { type: "string" }],
  pattern: QUANTITY_PATTERN,
  "x-kubernetes-int-or-string": true,
});

const secretReference = (description: string, keys: string): SchemaNode => ({
  type: "object",
  description: `${description} The Secret must exist in the RedisCluster's namespace and hold ${keys}.`,
  required: ["name"],
  properties: {
    name: {
      type: "string",
      description: "Name of the Secret.",
      minLength: 1,
      maxLength: 253,
      pattern: DNS1123_SUBDOMAIN_PATTERN,
    },
  },
});

/** metav1.Condition's message limit; the controller cuts longer messages (controller/status/conditions.ts). */
export const CONDITION_MESSAGE_MAX_LENGTH = 32768;

/**
 * The most Redis pods a cluster may have. One primary serves every replica its own replication stream, and
 * each full resync a fork and an RDB transfer; in the `direct` topology every pod is a cross-region stream from
 * the source; and the controller asks every pod each reconcile. 16 leaves room for read scaling (the
 * reference's clusters have 3 and 5) while bounding what one RedisCluster can make its primary, its source and
 * the controller do.
 */
export const MAX_INSTANCES = 16;
/** nodeSelector entries (a node carries a few dozen labels at most; a selector names a handful). */
const MAX_NODE_SELECTOR_ENTRIES = 64;
/** Entries of resources.limits and .requests (cpu, memory, ephemeral-storage, hugepages-*, a few extended). */
const MAX_RESOURCE_ENTRIES = 16;

/** metav1.Condition, as Kubernetes' own types define it. */
const condition: SchemaNode = {
  type: "object",
  description: "One aspect of the cluster's current state (a standard metav1.Condition).",
  required: ["type", "status", "lastTransitionTime", "reason", "message"],
  properties: {
    type: {
      type: "string",
      description: "Type of the condition: ReplicaMode, Ready, ReplicationHealthy, …",
      maxLength: 316,
      pattern:
        "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
    },
    status: {
      type: "string",
      description: "Whether the condition holds: True, False or Unknown.",
      enum: ["True", "False", "Unknown"],
    },
    observedGeneration: {
      type: "integer",
      format: "int64",
      minimum: 0,
      description: "The metadata.generation the condition was computed from.",
    },
    lastTransitionTime: {
      type: "string",
      format: "date-time",
      description: "When the condition last changed status.",
    },
    reason: {
      type: "string",
      description:
        "A CamelCase word saying why the condition has its status (Enabled, Promoted, LinkDown, …).",
      minLength: 1,
      maxLength: 1024,
      pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    },
    message: {
      type: "string",
      description: "A sentence for humans with the details.",
      maxLength: CONDITION_MESSAGE_MAX_LENGTH,
    },
  },
};

const byteCount = (description: string): SchemaNode => ({
  type: "integer",
  format: "int64",
  minimum: 0,
  description,
});

const timestamp = (description: string): SchemaNode => ({ type: "string", format: "date-time", description });

const replicaSource: SchemaNode = {
  type: "object",
  description:
    "The external Redis primary this cluster replicates from. Use a stable endpoint: a Service DNS name, " +
    "a LoadBalancer address or an ingress hostname, never a pod IP.",
  required: ["host"],
  properties: {
    host: {
      type: "string",
      description: "Host of the external Redis primary: a DNS name or an IP address, without the port.",
      minLength: 1,
      maxLength: 253,
    },
    port: {
      type: "integer",
      format: "int32",
      description: "Port of the external Redis primary, from 1 to 65535. Defaults to 6379.",
      minimum: 1,
      maximum: 65535,
      default: 6379,
    },
    clusterName: {
      type: "string",
      description:
        "Human-readable name of the source cluster, used in status messages, Events and metrics. The host " +
        "stands in for it when unset.",
      maxLength: 253,
    },
    authSecretName: {
      type: "string",
      description:
        "Name of the Secret in this RedisCluster's namespace whose key `password` authenticates to the " +
        "source (Redis `masterauth`). Copy the source cluster's Secret into this namespace.",
      minLength: 1,
      maxLength: 253,
      pattern: DNS1123_SUBDOMAIN_PATTERN,
    },
  },
};

/**
 * The webhook's message for the same rule (webhook/validation/rules/replica-source.ts), word for word: with
 * the same field path and reason, users read one error whichever of the two refused their request.
 */
export const ENABLED_NEEDS_HOST = "replica mode (enabled: true) needs the source's host";

/** The webhook's messages for the hand-off rules (webhook/validation/rules/handoff.ts), word for word. */
export const HANDOFF_NEEDS_ADDRESS =
  "promoteBy: Handoff needs handoffAddress: the address the source's region reaches the leader at";
export const HANDOFF_NEEDS_PROMOTE = "promoteBy: Handoff needs promote: true";
export const JOIN_HANDOFF_FORBIDS_PROMOTE =
  "joinBy: Handoff makes this cluster a replica of its source: it cannot be set with promote: true";

const replicaMode: SchemaNode = {
  type: "object",
  description:
    "Replica mode: makes this cluster a full-cluster disaster-recovery replica of an external Redis " +
    "primary, and promotes it to a standalone primary on request.",
  properties: {
    enabled: {
      type: "boolean",
      description:
        "Whether the cluster replicates from `source`: when true, its pods run REPLICAOF <host> <port>. Needs " +
        "`source`.",
    },
    source: replicaSource,
    promote: {
      type: "boolean",
      description:
        "When true, requests the promotion of the designated leader (ordinal 0) to standalone primary: it " +
        "runs REPLICAOF NO ONE and the other pods replicate from it. Needs `enabled: true` and a source. " +
        "Once the promotion completed, undoing it needs `demotionToken`.",
    },
    topology: {
      type: "string",
      description:
        "How the pods replicate across regions. `direct` (default): every pod replicates from the source. " +
        "`cascade`: only the leader replicates from the source and the others from the leader (1/N of the " +
        "cross-region traffic, and no pod is ever ahead of the leader).",
      enum: ["direct", "cascade"],
      default: "direct",
    },
    demotionToken: {
      type: "string",
      description:
        "Token that confirms an intentional demotion of a promoted cluster, which discards every write made " +
        "since the promotion. Must equal `status.promotion.replicationId` in the request that sets promote to " +
        "false (or re-enables replication).",
      maxLength: 64,
    },
    promoteBy: {
      type: "string",
      description:
        "How `promote: true` makes the leader a primary (docs/switchover.md). `Break` (default): REPLICAOF NO " +
        "ONE now, the DR failover. `Handoff`: replication is not broken; the leader announces itself at " +
        "`handoffAddress` and becomes the primary when the source hands the role over (FAILOVER TO), with " +
        "every acknowledged write and no full resync.",
      enum: ["Break", "Handoff"],
    },
    handoffAddress: {
      type: "object",
      description:
        "The leader's address as the source's region dials it (e.g. this cluster's external LoadBalancer). " +
        "Required with `promoteBy: Handoff`.",
      required: ["host"],
      properties: {
        host: {
          type: "string",
          description: "Host (a DNS name or an IP address) the source reaches the leader at.",
          minLength: 1,
          maxLength: 253,
        },
        port: {
          type: "integer",
          format: "int32",
          description: "Port the source reaches the leader at, from 1 to 65535. Defaults to 6379.",
          minimum: 1,
          maximum: 65535,
          default: 6379,
        },
      },
    },
    joinBy: {
      type: "string",
      description:
        "How a cluster that is a primary becomes a replica of `source`. `Copy` (default): the pods take a " +
        "full copy of the source, replacing their data. `Handoff`: the primary role is handed over to the " +
        "source (FAILOVER TO source.host source.port) once the source announces that address " +
        "(`promoteBy: Handoff` on it); nothing is replaced.",
      enum: ["Copy", "Handoff"],
    },
    handoffTimeoutSeconds: {
      type: "integer",
      format: "int32",
      description:
        "With `joinBy: Handoff`: the longest the source may take to catch up while writes are held (the " +
        "FAILOVER timeout). On timeout nothing changes. Defaults to 10.",
      minimum: 1,
      maximum: 60,
    },
    handoffAttempt: {
      type: "integer",
      format: "int32",
      description:
        "With `joinBy: Handoff`: the controller tries the hand-off once per value; change it to try again " +
        "after a failed attempt.",
      minimum: 0,
    },
  },
  "x-kubernetes-validations": [
    {
      rule: "!(has(self.enabled) && self.enabled) || has(self.source)",
      message: ENABLED_NEEDS_HOST,
      reason: "FieldValueRequired",
      fieldPath: ".source.host",
    },
    {
      rule: "!(has(self.promote) && self.promote) || (has(self.enabled) && self.enabled && has(self.source))",
      message: "promote requires enabled: true and a source",
      reason: "FieldValueForbidden",
      fieldPath: ".promote",
    },
    {
      rule: "!(has(self.promoteBy) && self.promoteBy == 'Handoff') || has(self.handoffAddress)",
      message: HANDOFF_NEEDS_ADDRESS,
      reason: "FieldValueRequired",
      fieldPath: ".handoffAddress",
    },
    {
      rule: "!(has(self.promoteBy) && self.promoteBy == 'Handoff') || (has(self.promote) && self.promote)",
      message: HANDOFF_NEEDS_PROMOTE,
      reason: "FieldValueInvalid",
      fieldPath: ".promoteBy",
    },
    {
      rule: "!(has(self.joinBy) && self.joinBy == 'Handoff') || !(has(self.promote) && self.promote)",
      message: JOIN_HANDOFF_FORBIDS_PROMOTE,
      reason: "FieldValueInvalid",
      fieldPath: ".joinBy",
    },
  ],
};

/**
 * Why `spec.storage` is fixed at creation, and what to do instead, as the webhook
 * (webhook/validation/rules/storage-unchanged.ts) and the CRD's CEL transition rule say it, word for word.
 */
export const STORAGE_IMMUTABLE =
  "storage cannot be added, removed or changed on an existing cluster, because a StatefulSet's volume claim " +
  "templates are immutable: instead, create a new RedisCluster with the storage you want, let it replicate " +
  "from this one with replica mode (source.host: this cluster's <name>-leader Service), then promote it";

const spec: SchemaNode = {
  type: "object",
  description: "The desired state of the Redis cluster.",
  properties: {
    instances: {
      type: "integer",
      format: "int32",
      description: `Number of Redis pods, from 1 to ${MAX_INSTANCES}. Defaults to 1. Ordinal 0 is the designated leader.`,
      minimum: 1,
      maximum: MAX_INSTANCES,
      default: 1,
    },
    mode: {
      type: "string",
      description:
        "Who assigns the primary and replica roles inside the cluster. `standalone` (default): the controller. " +
        "`sentinel`: Redis Sentinel, which manages failover inside the cluster; the controller follows the " +
        "primary it elects.",
      enum: ["standalone", "sentinel"],
      default: "standalone",
    },
    image: {
      type: "string",
      description: "Redis container image. The controller's default (redis:7.2) when empty.",
      maxLength: 512,
    },
    storage: {
      type: "object",
      description:
        "Persistent storage: a PersistentVolumeClaim per pod, so a pod's data survives its restarts. Without " +
        "it, each pod keeps its data in an emptyDir volume and loses it when the pod is deleted, evicted or " +
        "rescheduled. Set at creation only: it cannot be added, removed or changed later (a StatefulSet's " +
        "volume claim templates are immutable); to change it, create a new RedisCluster with the storage you " +
        "want, let it replicate from this one with replica mode, then promote it.",
      required: ["size"],
      properties: {
        size: quantity("Requested size of each pod's volume, e.g. 100Gi."),
        storageClass: {
          type: "string",
          description: "StorageClass of the volumes. The cluster's default class when empty.",
          maxLength: 253,
        },
      },
    },
    authSecret: secretReference(
      "Reference to the Secret with the password this cluster's own Redis requires.",
      "the key `password`",
    ),
    tlsSecret: secretReference(
      "Reference to the Secret with the TLS certificate of this cluster, used for clients and for replication. " +
        "Replication from the source uses TLS too: the source's certificate must be signed by a CA in ca.crt " +
        "and name replicaMode.source.host (DNS or IP subjectAltName).",
      "the keys `tls.crt`, `tls.key` and `ca.crt`",
    ),
    nodeSelector: {
      type: "object",
      description: `Node labels the pods must be scheduled on, e.g. topology.kubernetes.io/region. At most ${MAX_NODE_SELECTOR_ENTRIES}.`,
      maxProperties: MAX_NODE_SELECTOR_ENTRIES,
      // A label value: the pods' nodeSelector refuses longer ones.
      additionalProperties: { type: "string", maxLength: 63 },
    },
    resources: {
      type: "object",
      description: "CPU and memory requests and limits of the Redis container.",
      properties: {
        limits: {
          type: "object",
          description: `Maximum resources, e.g. memory: 4Gi. At most ${MAX_RESOURCE_ENTRIES}.`,
          maxProperties: MAX_RESOURCE_ENTRIES,
          additionalProperties: quantity("A resource quantity."),
        },
        requests: {
          type: "object",
          description: `Guaranteed resources, e.g. cpu: 500m. At most ${MAX_RESOURCE_ENTRIES}.`,
          maxProperties: MAX_RESOURCE_ENTRIES,
          additionalProperties: quantity("A resource quantity."),
        },
      },
    },
    minSyncReplicas: {
      type: "integer",
      format: "int32",
      description:
        "Number of replicas that must acknowledge the replication stream for the primary to accept writes " +
        "(Redis min-replicas-to-write). From 0 (the default when unset) to instances - 1.",
      minimum: 0,
    },
    replicaMode,
  },
  "x-kubernetes-validations": [
    {
      rule: "!has(self.minSyncReplicas) || !has(self.instances) || self.minSyncReplicas < self.instances",
      message: "minSyncReplicas must be at most instances - 1",
      reason: "FieldValueInvalid",
      fieldPath: ".minSyncReplicas",
    },
  ],
};

const status: SchemaNode = {
  type: "object",
  description: "The observed state of the Redis cluster, written only by the controller.",
  properties: {
    observedGeneration: {
      type: "integer",
      format: "int64",
      minimum: 0,
      description: "The metadata.generation the controller last acted on.",
    },
    conditions: {
      type: "array",
      description: "ReplicaMode, Ready, ReplicationHealthy and other conditions of the cluster.",
      items: condition,
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
    },
    instances: {
      type: "integer",
      format: "int32",
      minimum: 0,
      description: "Number of Redis pods that exist.",
    },
    readyInstances: {
      type: "integer",
      format: "int32",
      minimum: 0,
      description: "Number of Redis pods that are ready.",
    },
    currentPrimary: {
      type: "string",
      description:
        "Name of the pod that accepts writes; the designated leader after a promotion. Empty while replicating.",
    },
    designatedLeader: {
      type: "string",
      description: "Name of the pod that becomes primary on promotion (ordinal 0).",
    },
    syncReplicas: {
      type: "integer",
      format: "int32",
      minimum: 0,
      description:
        "Number of replicas of the current primary that count for spec.minSyncReplicas right now: connected, " +
        "online and acknowledged within min-replicas-max-lag (10 s). While it is below spec.minSyncReplicas " +
        "the primary refuses writes (NOREPLICAS). Absent while no pod is a primary or the primary cannot be " +
        "asked.",
    },
    lastKnownOffsets: {
      type: "array",
      description:
        "Each pod's replication history and offset as the controller last saw them; kept while the pod " +
        "cannot be asked. A leader that restarted onto a history of its own is compared with these before " +
        "it may copy another pod or become a primary: a pod behind the offset the leader last reached is " +
        "never copied without a confirmation (annotation redis.io/confirm-leader).",
      maxItems: 64,
      items: {
        type: "object",
        required: ["pod", "replicationId", "offset"],
        properties: {
          pod: { type: "string", description: "The pod's name.", maxLength: 63 },
          replicationId: {
            type: "string",
            description: "The pod's master_replid: the history its offset is on.",
            maxLength: 64,
          },
          offset: byteCount("The pod's master_repl_offset on that history."),
          keys: { type: "integer", format: "int64", minimum: 0, description: "How many keys the pod held." },
          observedAt: timestamp("When the controller first saw the pod at this offset."),
        },
      },
    },
    replication: {
      type: "object",
      description: "The cross-region replication link, as seen from the designated leader and the source.",
      properties: {
        replicatingFrom: {
          type: "string",
          description: "The source's cluster name while replica mode is active; empty otherwise.",
        },
        sourceEndpoint: {
          type: "string",
          description: "The source's host:port while replica mode is active.",
        },
        linkStatus: {
          type: "string",
          description:
            "The leader's link to its primary: Up, Down, Syncing (a full synchronisation is running) or " +
            "Unknown (the leader could not be asked).",
          enum: ["Up", "Down", "Syncing", "Unknown"],
        },
        linkDownSince: timestamp("When the link was first seen down; empty while it is up."),
        linkDownSeconds: {
          type: "integer",
          format: "int64",
          minimum: 0,
          description: "Seconds the link has been down, as of the last status update.",
        },
        leaderOffset: byteCount("The leader's replication offset."),
        sourceOffset: byteCount(
          "The source's own replication offset (master_repl_offset), as last seen: kept while the source " +
            "cannot be asked (see sourceLastSeen).",
        ),
        sourceLastSeen: timestamp(
          "When the controller last got an answer from the source: sourceOffset is from then, and while the " +
            "source cannot be asked, lagBytes is a lower bound.",
        ),
        lagBytes: byteCount(
          "Bytes the leader is behind the source, measured against the source's own offset (a replica " +
            "reports no lag while it is cut off, so its own figure is never used alone).",
        ),
        lastSyncTime: timestamp("When the leader last completed a full synchronisation."),
        sourceRunId: {
          type: "string",
          description:
            "The run_id of the source process the pods were last judged safe to follow (see the " +
            "SourceDiscontinuity condition): a restarted or replaced source has another and is judged again.",
          maxLength: 64,
        },
        sourceReplicationId: {
          type: "string",
          description:
            "The replication ID of the source's primary as the leader last saw it with its link up. It " +
            "changes when the source's primary changes (e.g. a Sentinel failover behind the source's leader " +
            "Service) and the leader resynchronised from the new one (Event SourceResynchronised).",
        },
      },
    },
    promotion: {
      type: "object",
      description:
        "The current promotion, from request to completion. Absent when the cluster was never promoted.",
      properties: {
        phase: {
          type: "string",
          description:
            "Progress of the promotion: AwaitingHandoff (promoteBy: Handoff: the leader still replicates and " +
            "is announced at handoffAddress until the source hands the primary role over), CatchingUp (the " +
            "leader takes writes a replica has and it lacks), Promoting (REPLICAOF NO ONE), Reattaching (the " +
            "other pods follow the leader), Completed or Failed.",
          enum: ["AwaitingHandoff", "CatchingUp", "Promoting", "Reattaching", "Completed", "Failed"],
        },
        requestedAt: timestamp("When the controller first saw promote: true."),
        completedAt: timestamp("When every pod followed the promoted leader."),
        formerSource: {
          type: "string",
          description:
            "Name of the source the cluster replicated from before the promotion: its clusterName, or its host.",
        },
        lagAtPromotionBytes: byteCount(
          "Bytes the leader was behind the source when replication was broken: the data-loss window. When the " +
            "source could not be asked at promotion (lagAtPromotionIsLowerBound), it is measured against the " +
            "source's last seen offset: at least this many bytes were lost, more if the source took writes " +
            "after sourceLastSeen.",
        ),
        initialSyncIncomplete: {
          type: "boolean",
          description:
            "True when no pod had finished its initial copy of the source at promotion: everything the source " +
            "held is lost on this side. lagAtPromotionBytes then counts the source's dataset (used_memory_dataset) " +
            "when the source could be asked.",
        },
        lagAtPromotionIsLowerBound: {
          type: "boolean",
          description:
            "True when the source could not be asked at promotion: lagAtPromotionBytes is then a lower bound.",
        },
        sourceLastSeen: timestamp(
          "When the source last answered before the promotion, if it could not be asked at promotion.",
        ),
        promotedOffset: byteCount("The leader's replication offset when it became primary."),
        replicationId: {
          type: "string",
          description:
            "Replication ID of the history the promoted leader started. Set once the leader accepts writes; " +
            "from then on, undoing the promotion needs spec.replicaMode.demotionToken set to this value.",
          maxLength: 64,
        },
        message: { type: "string", description: "The last thing the controller did or the error it met." },
        via: {
          type: "string",
          description:
            "How the leader became the primary: Break (REPLICAOF NO ONE of its own) or Handoff (the source " +
            "handed the role over with FAILOVER: nothing was lost).",
          enum: ["Break", "Handoff"],
        },
      },
    },
    switchover: {
      type: "object",
      description:
        "The hand-off of the primary role to the source (spec.replicaMode.joinBy: Handoff), written by the " +
        "controller of the old primary's cluster.",
      properties: {
        phase: {
          type: "string",
          description:
            "WaitingForTarget (the source is not listed at its address yet; writes flow), HandingOver (the " +
            "FAILOVER runs; writes are held), Completed, or Failed (nothing changed; change " +
            "spec.replicaMode.handoffAttempt to try again).",
          enum: ["WaitingForTarget", "HandingOver", "Completed", "Failed"],
        },
        attempt: {
          type: "integer",
          format: "int32",
          description: "The spec.replicaMode.handoffAttempt this phase belongs to (0 when unset).",
          minimum: 0,
        },
        newPrimaryReplicationId: {
          type: "string",
          description: "The replication ID of the new primary's history, once handed over.",
          maxLength: 64,
        },
        offset: byteCount(
          "The old primary's replication offset on the new primary's history, once handed over.",
        ),
        pausedMs: {
          type: "integer",
          format: "int64",
          minimum: 0,
          description: "How long writes on the old primary were held, in milliseconds.",
        },
        completedAt: timestamp("When the hand-off completed."),
        message: { type: "string", description: "What happened, or what the hand-off waits for." },
      },
    },
    lastDemotion: {
      type: "object",
      description: "The last confirmed demotion of a promoted cluster back to a replica.",
      properties: {
        completedAt: timestamp("When every pod replicated from the source again."),
        replicationId: {
          type: "string",
          description: "Replication ID of the promoted history that was discarded.",
          maxLength: 64,
        },
        discardedBytes: byteCount("Bytes of writes made after the promotion that the demotion discarded."),
      },
    },
  },
};

/**
 * The longest RedisCluster name whose owned objects can be named: the StatefulSet `<name>` labels its pods
 * `controller-revision-hash: <name>-<hash of up to 10 characters>`, a label value of at most 63 characters.
 */
export const MAX_NAME_LENGTH = 52;

/**
 * The shape a RedisCluster name must have, as the webhook (webhook/validation/rules/cluster-name.ts) and the
 * CRD's CEL rule say it, word for word: a DNS-1035 label, because the owned Services are named after it.
 */
export const NAME_NAMES_OWNED_OBJECTS =
  `must be at most ${MAX_NAME_LENGTH} characters of lowercase letters, digits and '-', starting with a ` +
  "letter and ending with a letter or digit (a DNS-1035 label): it names this cluster's Services " +
  "(<name>-headless, <name>-leader, <name>-replicas) and its StatefulSet, whose pods are labelled " +
  "controller-revision-hash: <name>-<hash of up to 10 characters>, at most 63 characters";

/** A promoted cluster (completed promotion) is reverted when its new spec replicates from a source again. */
const REPLICATING = (o: string) =>
  `(has(${o}.spec.replicaMode) && has(${o}.spec.replicaMode.enabled) && ${o}.spec.replicaMode.enabled && ` +
  `!(has(${o}.spec.replicaMode.promote) && ${o}.spec.replicaMode.promote))`;
const PROMOTION_COMPLETED =
  "(has(oldSelf.status) && has(oldSelf.status.promotion) && has(oldSelf.status.promotion.replicationId) && " +
  "oldSelf.status.promotion.replicationId != '')";

/** The rule on the name: at the root, where CEL sees `self.metadata.name` (capped at 253 characters). */
const NAME_RULE: CelRule = {
  rule:
    `self.metadata.name.size() <= ${MAX_NAME_LENGTH} && ` +
    "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
  message: NAME_NAMES_OWNED_OBJECTS,
  reason: "FieldValueInvalid",
  fieldPath: ".metadata.name",
};

/**
 * Why status.promotion.replicationId cannot be dropped, as the CRD's transition rule says it: without it the
 * next revert of the promotion would need no token.
 */
export const REPLICATION_ID_KEPT =
  "status.promotion.replicationId records a completed promotion and is the demotion token: it cannot be " +
  "removed or emptied until spec.replicaMode.demotionToken confirms the demotion with the same value";

/** Transition rules on the whole object: they see status, and they also run when a field is deleted. */
const ROOT_TRANSITION_RULES: readonly CelRule[] = [
  {
    // At the root, not on spec.storage: a rule there would be skipped when storage is added or removed.
    rule:
      "has(self.spec.storage) == has(oldSelf.spec.storage) && " +
      "(!has(self.spec.storage) || self.spec.storage == oldSelf.spec.storage)",
    message: STORAGE_IMMUTABLE,
    reason: "FieldValueForbidden",
    fieldPath: ".spec.storage",
  },
  {
    rule:
      `!${PROMOTION_COMPLETED} || ${REPLICATING("oldSelf")} || !${REPLICATING("self")} || ` +
      "(has(self.spec.replicaMode.demotionToken) && " +
      "self.spec.replicaMode.demotionToken == oldSelf.status.promotion.replicationId)",
    message:
      "reverting a completed promotion discards every write made since; set spec.replicaMode.demotionToken " +
      "to status.promotion.replicationId to confirm",
    messageExpression:
      "'reverting a completed promotion discards every write made since; to confirm, set " +
      "spec.replicaMode.demotionToken to \"' + oldSelf.status.promotion.replicationId + '\" in the same request'",
    reason: "FieldValueForbidden",
    fieldPath: ".spec.replicaMode.promote",
  },
  {
    rule:
      `!${REPLICATING("oldSelf")} || ` +
      "(has(self.spec.replicaMode) && has(self.spec.replicaMode.enabled) && self.spec.replicaMode.enabled)",
    message: "cannot turn replica mode off while replicating: promote first (spec.replicaMode.promote: true)",
    reason: "FieldValueForbidden",
    fieldPath: ".spec.replicaMode.enabled",
  },
  {
    // Status writes go through the status subresource, which no webhook of ours sees: the rule is the guard.
    // The controller drops the ID only when it demotes, i.e. when the stored spec carries the matching token.
    rule:
      `!${PROMOTION_COMPLETED} || ` +
      "(has(self.status) && has(self.status.promotion) && has(self.status.promotion.replicationId) && " +
      "self.status.promotion.replicationId != '') || " +
      "(has(self.spec.replicaMode) && has(self.spec.replicaMode.demotionToken) && " +
      "self.spec.replicaMode.demotionToken == oldSelf.status.promotion.replicationId)",
    message: REPLICATION_ID_KEPT,
    reason: "FieldValueForbidden",
    fieldPath: ".status.promotion.replicationId",
  },
];

/** The CRD's openAPIV3Schema for redis.io/v1 RedisCluster. */
export const redisClusterSchema: SchemaNode = {
  type: "object",
  description:
    "A Redis cluster that can act as a full-cluster disaster-recovery replica of an external Redis primary " +
    "(replica mode), and be promoted to a standalone primary when the primary region is lost.",
  required: ["spec"],
  properties: {
    apiVersion: {
      type: "string",
      description: "Versioned schema of this representation of an object: redis.io/v1.",
    },
    kind: { type: "string", description: "The REST resource this object represents: RedisCluster." },
    // Only `type` and `name`: the API server refuses a CRD whose root metadata says more (even a
    // description), save properties name and generateName; kubectl explain shows ObjectMeta's own schema
    // here. `name` is declared so NAME_RULE's fieldPath `.metadata.name` is a path of the schema, which the
    // API server checks.
    metadata: { type: "object", properties: { name: { type: "string" } } },
    spec,
    status,
  },
  "x-kubernetes-validations": [NAME_RULE, ...ROOT_TRANSITION_RULES],
};
