/**
 * The Redis ACL users of a cluster's pods and Sentinels, and their rights. One list, rendered by the pods'
 * entrypoint (kube/resources/redis-config.ts) into `user` lines, by the controller into ACL SETUSER for a pod started by
 * an older controller (replication/observe.ts), and by the tests' pods (test/support).
 *
 * - `default`: the application, with the cluster's own password (spec.authSecret). Clients keep sending
 *   `AUTH <password>`. Everything but what reveals or changes configuration or other users (@admin,
 *   @dangerous), except what clients and other regions need back: INFO (ioredis' ready check, the runbook's
 *   `INFO replication`), ROLE (Sentinel-aware clients check it), KEYS and SORT (data commands that are only
 *   @dangerous for their cost), and PSYNC/REPLCONF/SYNC so that another region's redis-dr cluster can
 *   replicate from this one with this password after a failback.
 * - ADMIN_USER: the controller (every right), with a password the controller generates.
 * - REPLICATION_USER: `masteruser` of pods following a pod of their own cluster; only what a replica sends.
 * - SENTINEL_USER: what Redis Sentinel sends to a Redis instance (Redis' Sentinel documentation lists it).
 */
export const ADMIN_USER = "redis-dr-admin";
export const REPLICATION_USER = "redis-dr-replication";
export const SENTINEL_USER = "redis-dr-sentinel";

/** Keys of the controller-owned Secret `<cluster>-redis-dr-users` (see usersSecretName). */
export const USERS_SECRET_KEYS = {
  admin: "admin",
  replication: "replication",
  sentinel: "sentinel",
} as const;

export const usersSecretName = (cluster: string): string => `${cluster}-redis-dr-users`;

/** The passwords the controller generates for a cluster; never logged, never in status or Events. */
export interface ClusterUsers {
  readonly admin: string;
  readonly replication: string;
  readonly sentinel: string;
}

export const APPLICATION_RULES =
  "~* &* +@all -@admin -@dangerous +info +role +keys +sort +sort_ro +psync +replconf +sync";
export const ADMIN_RULES = "~* &* +@all";
export const REPLICATION_RULES = "resetkeys resetchannels -@all +psync +replconf +ping";
export const SENTINEL_RULES =
  "resetkeys allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info " +
  "+client|setname +client|kill +script|kill";

/**
 * On the Sentinels: `default` is for applications that discover the primary (with the cluster's password),
 * limited to what a Sentinel client asks (Redis' Sentinel documentation); it cannot order a failover or change
 * what is monitored. The controller is ADMIN_USER; Sentinels talk to each other as SENTINEL_USER, which Redis
 * requires to be a superuser of the Sentinels.
 */
export const SENTINEL_DISCOVERY_RULES =
  "&* -@all +auth +hello +ping +role +command +client|getname +client|id +client|setname " +
  "+sentinel|get-master-addr-by-name +sentinel|master +sentinel|masters +sentinel|myid +sentinel|replicas " +
  "+sentinel|slaves +sentinel|sentinels +subscribe +psubscribe +unsubscribe +punsubscribe";
export const SENTINEL_PEER_RULES = "~* &* +@all";

/**
 * A password read from a Secret: one trailing "\n" or "\r\n" is removed (a Secret made with
 * `kubectl create secret generic --from-file=password=./pw` keeps the file's final newline, which nobody
 * types when they AUTH). The pods' entrypoint applies the same rule (kube/resources/secret-files.ts), so both agree.
 */
export const secretText = (value: string): string => value.replace(/\r?\n$/, "");

/** The ACL SETUSER rules of each Redis user but `default`, for a pod that lacks them. */
export function podUserRules(users: ClusterUsers): [string, string][] {
  return [
    [ADMIN_USER, `reset on >${users.admin} ${ADMIN_RULES}`],
    [REPLICATION_USER, `reset on >${users.replication} ${REPLICATION_RULES}`],
    [SENTINEL_USER, `reset on >${users.sentinel} ${SENTINEL_RULES}`],
  ];
}

/** New passwords for a cluster's users: 192 random bits each, in characters a config file takes unquoted. */
export function generateUsers(random: (bytes: number) => Buffer): ClusterUsers {
  const password = () => random(24).toString("base64url");
  return { admin: password(), replication: password(), sentinel: password() };
}

/** The passwords in the users Secret's data (base64), or what is wrong with it. */
export function usersFromSecretData(
  data: Readonly<Record<string, string>> | undefined,
): ClusterUsers | string {
  const read = (key: string) => secretText(Buffer.from(data?.[key] ?? "", "base64").toString("utf8"));
  const users = {
    admin: read(USERS_SECRET_KEYS.admin),
    replication: read(USERS_SECRET_KEYS.replication),
    sentinel: read(USERS_SECRET_KEYS.sentinel),
  };
  const bad = Object.entries(USERS_SECRET_KEYS)
    .filter(([field]) => !/^[A-Za-z0-9_-]+$/.test(users[field as keyof ClusterUsers]))
    .map(([, key]) => key);
  return bad.length === 0
    ? users
    : `keys ${bad.join(", ")} are missing or hold characters other than A-Z a-z 0-9 _ -`;
}
