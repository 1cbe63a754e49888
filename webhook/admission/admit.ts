/**
 * The two admission endpoints' decisions: defaulting (mutate) and validation (validate) of a RedisCluster.
 */
import type { AdmissionOutcome, AdmissionRequest } from "./types.ts";
import { badRequestStatus, invalidStatus } from "./review.ts";
import { isRecord } from "../../kube-common/is-record.ts";
import { defaultingPatch } from "../defaulting/defaults.ts";
import { FieldPath } from "../../kube-common/field-path.ts";
import { formatFieldError, type FieldError } from "../../kube-common/field-errors.ts";
import { validateStructure } from "../validation/structural.ts";
import { checkSecrets, type SecretAccessReviewer, type SecretReader } from "../validation/secrets.ts";
import { sourceAddressRule, type AllowedSourceRanges } from "../validation/rules/source-address.ts";
import { validatePromoteRevert } from "../validation/rules/promote-revert.ts";
import {
  secretRequirements,
  validationRules,
  warningRules,
  type RedisCluster,
} from "../validation/rules/index.ts";

export type Admit = (request: AdmissionRequest) => Promise<AdmissionOutcome>;

export interface ValidateDeps {
  readonly secrets: SecretReader;
  /** Whether the requesting user may read the Secrets they name (SubjectAccessReview). */
  readonly access: SecretAccessReviewer;
  /** Address ranges `source.host` may use although they are loopback, link-local… (default: none). */
  readonly allowedSourceRanges?: AllowedSourceRanges;
}

type Objects =
  | { readonly ok: true; readonly cluster: RedisCluster; readonly old?: RedisCluster }
  | { readonly ok: false; readonly outcome: AdmissionOutcome };

/**
 * The object (and on UPDATE the stored object) under admission. Name and namespace come from the request
 * when the object lacks them (CREATE with generateName; the API server sets the namespace from the URL).
 */
function objectsOf(request: AdmissionRequest): Objects {
  const bad = (message: string): Objects => ({
    ok: false,
    outcome: { allowed: false, status: badRequestStatus(message) },
  });
  if (!isRecord(request.object)) return bad(`request.object must be a JSON object on ${request.operation}`);
  if (request.operation === "UPDATE" && !isRecord(request.oldObject)) {
    return bad("request.oldObject must be a JSON object on UPDATE");
  }
  // The API server puts the namespace of the URL in both places. A request where they differ did not come
  // from it, and is not answered: Secrets are looked up in the object's namespace, and nowhere else.
  for (const [what, object] of [
    ["object", request.object],
    ["oldObject", request.oldObject],
  ] as const) {
    const metadata = isRecord(object) && isRecord(object.metadata) ? object.metadata : {};
    const namespace = metadata.namespace;
    if (
      typeof namespace === "string" &&
      namespace !== "" &&
      request.namespace &&
      namespace !== request.namespace
    ) {
      return bad(
        `request.${what}.metadata.namespace ${JSON.stringify(namespace)} differs from request.namespace ` +
          JSON.stringify(request.namespace),
      );
    }
  }
  const withIdentity = (object: Record<string, unknown>): RedisCluster => {
    const metadata = isRecord(object.metadata) ? object.metadata : {};
    return {
      ...object,
      metadata: {
        ...metadata,
        name:
          typeof metadata.name === "string" && metadata.name !== "" ? metadata.name : (request.name ?? ""),
        namespace:
          typeof metadata.namespace === "string" && metadata.namespace !== ""
            ? metadata.namespace
            : (request.namespace ?? ""),
      },
    } as unknown as RedisCluster;
  };
  const old =
    isRecord(request.oldObject) && request.operation === "UPDATE"
      ? withIdentity(request.oldObject)
      : undefined;
  return { ok: true, cluster: withIdentity(request.object), ...(old ? { old } : {}) };
}

/**
 * Mutating endpoint: the schema's defaults, as a JSON Patch on the raw object (none when nothing is missing).
 *
 * It also refuses a revert of a completed promotion without the token. The API server validates a custom
 * resource against its CRD schema — including our CEL transition rules — after the mutating webhooks and
 * before the validating ones, so the CEL rule would answer first, and CEL cannot print the exact command
 * (it does not see the namespace). Checking the same state machine here gives the user the command.
 */
export const mutateCluster: Admit = async (request) => {
  const objects = objectsOf(request);
  if (!objects.ok) return objects.outcome;
  const { cluster, old } = objects;
  if (old !== undefined) {
    const errors = validatePromoteRevert(cluster, FieldPath.root(), old);
    if (errors.length > 0) {
      return { allowed: false, status: invalidStatus(cluster.metadata?.name ?? "", errors) };
    }
  }
  return { allowed: true, patch: defaultingPatch(request.object) };
};

/**
 * Validating endpoint: the schema, every rule, the source's address, and the referenced Secrets (the user may
 * read them, and they hold the needed keys); every problem at once.
 */
export function validateCluster(deps: ValidateDeps): Admit {
  const validateSourceAddress = sourceAddressRule(deps.allowedSourceRanges);
  return async (request) => {
    const objects = objectsOf(request);
    if (!objects.ok) return objects.outcome;
    const { cluster, old } = objects;
    const root = FieldPath.root();
    const namespace = cluster.metadata?.namespace ?? "";
    const errors = unique([
      ...validateStructure(request.object),
      ...validationRules.flatMap((rule) => rule(cluster, root, old)),
      ...validateSourceAddress(cluster, root),
      // The object's namespace only: a request never makes the webhook look into another one.
      ...(await checkSecrets(secretRequirements(cluster, root, old), {
        namespace,
        user: request.userInfo,
        secrets: deps.secrets,
        access: deps.access,
      })),
    ]);
    if (errors.length > 0) {
      return { allowed: false, status: invalidStatus(cluster.metadata?.name ?? "", errors) };
    }
    // Warnings describe what an admitted change will do; a denied one does nothing.
    return { allowed: true, warnings: warningRules.flatMap((rule) => rule(cluster, old)) };
  };
}

/** The schema and a rule may find the same problem (e.g. a port out of range); it is reported once. */
function unique(errors: readonly FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((error) => {
    const key = formatFieldError(error);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
