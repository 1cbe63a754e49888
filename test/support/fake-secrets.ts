/** A SecretReader over an in-memory map of Secrets' key names, counting the lookups it answers. */
import { SecretReadError, type SecretReader } from "../../webhook/validation/secrets.ts";

export class FakeSecrets implements SecretReader {
  readonly lookups: string[] = [];
  private readonly secrets = new Map<string, ReadonlySet<string>>();
  private readonly failures = new Map<string, Error>();

  with(namespace: string, name: string, keys: readonly string[]): this {
    this.secrets.set(`${namespace}/${name}`, new Set(keys));
    return this;
  }

  failing(
    namespace: string,
    name: string,
    error: Error = new SecretReadError("the Kubernetes API answered 403"),
  ): this {
    this.failures.set(`${namespace}/${name}`, error);
    return this;
  }

  async secretKeys(namespace: string, name: string): Promise<ReadonlySet<string> | undefined> {
    const key = `${namespace}/${name}`;
    this.lookups.push(key);
    const failure = this.failures.get(key);
    if (failure) throw failure;
    return this.secrets.get(key);
  }
}
