/**
 * Checking referenced Secrets through two narrow ports: may the requesting user `get` the Secret (a
 * SubjectAccessReview), and does it hold the needed keys. The reader answers with key names only, so a
 * Secret's content never reaches validation, logs or messages.
 *
 * The webhook reads Secrets with its own rights, which are wider than its users': without the access check,
 * anyone who may edit a RedisCluster could name any Secret of the namespace and have the controller send its
 * `password` to a host of their choosing (a confused deputy). The access check comes first, and a user who may
 * not read a Secret learns nothing about it — not even whether it exists.
 */
import type { UserInfo } from "../admission/types.ts";
import {
  forbidden,
  internalError,
  invalid,
  notFound,
  type FieldError,
} from "../../kube-common/field-errors.ts";
import type { SecretRequirement } from "./rules/secret-references.ts";

export interface SecretReader {
  /**
   * The names of the keys of Secret `namespace/name` that hold a non-empty value, or undefined when the
   * Secret does not exist. One `get` per call: never a list, never a cache. Throws SecretReadError when the
   * Secret could not be read.
   */
  secretKeys(namespace: string, name: string): Promise<ReadonlySet<string> | undefined>;
}

/** A Secret that could not be read; the message is safe to show (no content, no credentials). */
export class SecretReadError extends Error {
  override readonly name = "SecretReadError";
}

export interface SecretAccessReviewer {
  /**
   * Whether `user` may `get` Secret `namespace/name`, as the API server's authorizers answer a
   * SubjectAccessReview for them. Throws SecretReadError when the API server could not answer.
   */
  mayGetSecret(user: UserInfo, namespace: string, name: string): Promise<boolean>;
}

/** Who is asking and where: the object's namespace is the only one looked in. */
export interface SecretCheckContext {
  readonly namespace: string;
  /** The AdmissionRequest's userInfo; without a username, no Secret is looked up. */
  readonly user: UserInfo | undefined;
  readonly secrets: SecretReader;
  readonly access: SecretAccessReviewer;
}

const userText = (user: UserInfo | undefined) => JSON.stringify(user?.username ?? "");

/** The field error for a user who may not read a Secret: names the user, the verb, the Secret, the namespace. */
function accessDenied(
  requirement: SecretRequirement,
  namespace: string,
  user: UserInfo | undefined,
): FieldError {
  return forbidden(
    requirement.path,
    `user ${userText(user)} may not get Secret ${JSON.stringify(requirement.name)} in namespace ` +
      `${JSON.stringify(namespace)}: a RedisCluster may only name Secrets its author may read`,
  );
}

/** The field errors for one requirement, given the Secret's keys (undefined: no such Secret). */
function secretErrors(
  requirement: SecretRequirement,
  namespace: string,
  keys: ReadonlySet<string> | undefined,
): FieldError[] {
  const { path, name } = requirement;
  if (keys === undefined) {
    return [
      notFound(
        path,
        name,
        `Secret ${JSON.stringify(name)} not found in namespace ${JSON.stringify(namespace)}`,
      ),
    ];
  }
  const missing = requirement.keys.filter((key) => !keys.has(key));
  if (missing.length === 0) return [];
  const list = missing.map((key) => JSON.stringify(key)).join(", ");
  return [
    invalid(
      path,
      name,
      `Secret ${JSON.stringify(name)} has no (or an empty) ${missing.length > 1 ? "keys" : "key"} ${list}`,
    ),
  ];
}

/**
 * Checks every required Secret once per distinct name: first whether the user may `get` it, then (only if so)
 * that it exists with its keys. Reports all problems; fails closed when the API server cannot be asked.
 */
export async function checkSecrets(
  requirements: readonly SecretRequirement[],
  context: SecretCheckContext,
): Promise<FieldError[]> {
  const { namespace, user, secrets, access } = context;
  if (requirements.length === 0) return [];
  if (namespace === "") {
    // A RedisCluster is namespaced: without a namespace a review would ask about every namespace's Secrets.
    return requirements.map((requirement) =>
      forbidden(requirement.path, "the request names no namespace, so no Secret is looked up"),
    );
  }
  if (typeof user?.username !== "string" || user.username === "") {
    // The API server always says who is asking (system:anonymous included): this request did not come from it.
    return requirements.map((requirement) =>
      forbidden(
        requirement.path,
        `the request names no user (request.userInfo.username), so whether they may get Secret ` +
          `${JSON.stringify(requirement.name)} cannot be checked`,
      ),
    );
  }
  type Found =
    { readonly kind: "denied" } | { readonly kind: "keys"; readonly keys: ReadonlySet<string> | undefined };
  const lookups = new Map<string, Promise<Found>>();
  const lookup = (name: string) => {
    let pending = lookups.get(name);
    if (pending === undefined) {
      pending = (async (): Promise<Found> => {
        if (!(await access.mayGetSecret(user, namespace, name))) return { kind: "denied" };
        return { kind: "keys", keys: await secrets.secretKeys(namespace, name) };
      })();
      lookups.set(name, pending);
    }
    return pending;
  };
  const results = await Promise.all(
    requirements.map(async (requirement): Promise<FieldError[]> => {
      try {
        const found = await lookup(requirement.name);
        if (found.kind === "denied") return [accessDenied(requirement, namespace, user)];
        return secretErrors(requirement, namespace, found.keys);
      } catch (error) {
        const reason = error instanceof SecretReadError ? error.message : "unexpected error";
        return [
          internalError(
            requirement.path,
            `could not check Secret ${JSON.stringify(requirement.name)}: ${reason}`,
          ),
        ];
      }
    }),
  );
  return results.flat();
}
