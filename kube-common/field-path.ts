/**
 * A path to a field, printed the way Kubernetes prints it: `spec.replicaMode.source.port`,
 * `status.conditions[0]`, `spec.nodeSelector[topology.kubernetes.io/region]`.
 * Validators receive the parent path and extend it, so a path is spelled in one place.
 */
export class FieldPath {
  private constructor(
    private readonly parent: FieldPath | undefined,
    private readonly segment: string,
  ) {}

  static root(...names: string[]): FieldPath {
    const [first, ...rest] = names;
    const root = new FieldPath(undefined, first ?? "");
    return rest.length > 0 ? root.child(...rest) : root;
  }

  child(...names: string[]): FieldPath {
    return names.reduce<FieldPath>(
      (path, name) => new FieldPath(path, path.isEmpty() ? name : `.${name}`),
      this,
    );
  }

  index(i: number): FieldPath {
    return new FieldPath(this, `[${i}]`);
  }

  key(k: string): FieldPath {
    return new FieldPath(this, `[${k}]`);
  }

  private isEmpty(): boolean {
    return this.parent === undefined && this.segment === "";
  }

  toString(): string {
    return (this.parent ? this.parent.toString() : "") + this.segment;
  }
}
