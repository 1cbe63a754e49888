/**
 * Checking referenced Secrets through a narrow port. The port answers with key names only, so a Secret's
 * content never reaches validation, logs or messages.
 */
import { internalError, invalid, notFound, type FieldError } from "./field-errors.ts";
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

/** The field errors for one requirement, given the Secret's keys (undefined: no such Secret). */
export function secretErrors(
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

/** Looks every required Secret up once (one `get` per distinct name) and reports all problems. */
export async function checkSecrets(
  requirements: readonly SecretRequirement[],
  namespace: string,
  reader: SecretReader,
): Promise<FieldError[]> {
  const lookups = new Map<string, Promise<ReadonlySet<string> | undefined>>();
  const lookup = (name: string) => {
    let pending = lookups.get(name);
    if (pending === undefined) {
      pending = reader.secretKeys(namespace, name);
      lookups.set(name, pending);
    }
    return pending;
  };
  const results = await Promise.all(
    requirements.map(async (requirement): Promise<FieldError[]> => {
      try {
        return secretErrors(requirement, namespace, await lookup(requirement.name));
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
