/**
 * A SecretAccessReviewer over an in-memory grant list (user → namespace/name they may get), recording every
 * question, like the SubjectAccessReviews the webhook would send.
 */
import type { UserInfo } from "../../webhook/admission/types.ts";
import type { SecretAccessReviewer } from "../../webhook/validation/secrets.ts";

export class FakeAccess implements SecretAccessReviewer {
  readonly reviews: { user: UserInfo; namespace: string; name: string }[] = [];
  private readonly grants = new Set<string>();
  private everyone = false;
  private failure: Error | undefined;

  /** Every user may get every Secret (what system:masters gets from RBAC). */
  static allowingAll(): FakeAccess {
    const access = new FakeAccess();
    access.everyone = true;
    return access;
  }

  granting(username: string, namespace: string, name: string): this {
    this.grants.add(`${username} ${namespace}/${name}`);
    return this;
  }

  failingWith(error: Error): this {
    this.failure = error;
    return this;
  }

  async mayGetSecret(user: UserInfo, namespace: string, name: string): Promise<boolean> {
    this.reviews.push({ user, namespace, name });
    if (this.failure) throw this.failure;
    return this.everyone || this.grants.has(`${user.username ?? ""} ${namespace}/${name}`);
  }
}
