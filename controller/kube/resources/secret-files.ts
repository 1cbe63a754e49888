/**
 * Where a pod finds its passwords, and the shell the entrypoints read them with.
 */

/** Where a pod finds the cluster's own Secret (spec.authSecret) and the controller's users Secret. */
export const AUTH_MOUNT = "/etc/redis-dr/auth";
export const USERS_MOUNT = "/etc/redis-dr/users";

export interface SecretFiles {
  /** The directory of spec.authSecret (key `password`, optional key `acl`); undefined without one. */
  readonly auth: string | undefined;
  /** The directory of the controller's users Secret (keys of USERS_SECRET_KEYS). */
  readonly users: string;
}

export const podSecretFiles = (auth: boolean): SecretFiles => ({
  auth: auth ? AUTH_MOUNT : undefined,
  users: USERS_MOUNT,
});

/**
 * Shell helpers of the entrypoints. `secret FILE` sets $value to the file's content less one trailing "\n"
 * or "\r\n" — the rule the controller applies too (redis/users.ts, secretText) — without a command
 * substitution around the value, which would strip every trailing newline. `hashed` prints the ACL form of
 * $value's password (`#` and its SHA-256): Redis configuration then holds no password and needs no quoting.
 * `plain NAME` checks that a generated password ($value) can be written unquoted in a configuration file.
 */
export const SHELL_HELPERS = [
  "set -eu",
  "umask 077",
  "nl=$(printf '\\nx'); nl=${nl%x}",
  "cr=$(printf '\\rx'); cr=${cr%x}",
  "secret() {",
  '  [ -f "$1" ] || { echo "redis-dr: $1 is missing" >&2; exit 1; }',
  '  value=$(cat "$1"; printf x); value=${value%x}',
  '  case $value in *"$nl") value=${value%"$nl"}; value=${value%"$cr"} ;; esac',
  '  [ -n "$value" ] || { echo "redis-dr: $1 is empty" >&2; exit 1; }',
  "}",
  "hashed() {",
  "  h=$(printf '%s' \"$value\" | sha256sum | cut -d' ' -f1)",
  '  [ ${#h} -eq 64 ] || { echo "redis-dr: sha256sum failed" >&2; exit 1; }',
  '  printf "#%s" "$h"',
  "}",
  "plain() {",
  '  case $value in *[!A-Za-z0-9_-]*) echo "redis-dr: $1 has characters other than A-Z a-z 0-9 _ -" >&2; exit 1 ;; esac',
  "}",
];

/** The application's password (`default` user): the Secret's hash, or nopass for a cluster without one. */
export function applicationPassword(files: SecretFiles): string[] {
  if (files.auth === undefined) return ['app_pass="nopass"', 'app_extra=""'];
  return [
    `secret ${files.auth}/password; app_pass=$(hashed)`,
    // Opt-in rights for applications (docs/security.md): the Secret's optional `acl` key, on one line.
    'app_extra=""',
    `if [ -f ${files.auth}/acl ]; then value=$(cat ${files.auth}/acl); app_extra=$(printf '%s' "$value" | tr '\\r\\n' '  '); fi`,
  ];
}
