/**
 * The AdmissionReview envelope around an endpoint's decision: a function of the review and its
 * dependencies, free of HTTP. Express only parses and sends (server/app.ts).
 */
import type { Logger } from "pino";
import type { AdmissionOutcome, AdmissionReviewRequest, AdmissionReviewResponse } from "./types.ts";
import { badRequestStatus, internalErrorStatus, reviewResponse } from "./review.ts";
import type { Admit } from "./admit.ts";
import { GROUP, KIND } from "../../schemas/rediscluster.ts";

export interface ReviewDeps {
  readonly admit: Admit;
  readonly logger: Logger;
}

export async function handleReview(
  review: AdmissionReviewRequest,
  deps: ReviewDeps,
): Promise<AdmissionReviewResponse> {
  const { request } = review;
  // The request's child logger is made only for a line that is written: making one serialises (and redacts)
  // its bindings, a cost worth paying for a denial or a warning, not for every routine admission.
  let child: Logger | undefined;
  const log = (): Logger =>
    (child ??= deps.logger.child({
      uid: request.uid,
      operation: request.operation,
      namespace: request.namespace,
      name: request.name,
      dryRun: request.dryRun === true,
    }));
  const outcome = await decide(review, deps.admit, log);
  if (outcome.allowed) {
    // Routine admissions at debug (they are most requests, and logging is a tenth of the cost of one);
    // anything a person may need to see — a warning, a denial — at info.
    const level = outcome.warnings && outcome.warnings.length > 0 ? "info" : "debug";
    if (deps.logger.isLevelEnabled(level)) {
      log()[level](
        { allowed: true, patchOperations: outcome.patch?.length ?? 0, warnings: outcome.warnings },
        "admitted",
      );
    }
  } else {
    log().info(
      {
        allowed: false,
        code: outcome.status.code,
        reason: outcome.status.reason,
        message: outcome.status.message,
        warnings: outcome.warnings,
      },
      "denied",
    );
  }
  return reviewResponse(request, outcome);
}

async function decide(
  review: AdmissionReviewRequest,
  admit: Admit,
  log: () => Logger,
): Promise<AdmissionOutcome> {
  const { request } = review;
  // Nothing to default or validate when an object goes away or is connected to.
  if (request.operation === "DELETE" || request.operation === "CONNECT") return { allowed: true };
  const kind = request.kind;
  if (kind !== undefined && (kind.group !== GROUP || kind.kind !== KIND)) {
    return {
      allowed: false,
      status: badRequestStatus(
        `this webhook admits ${KIND}.${GROUP} only, got ${String(kind.kind)}.${String(kind.group)}`,
      ),
    };
  }
  try {
    return await admit(request);
  } catch (err) {
    log().error({ err }, "admission failed unexpectedly");
    return { allowed: false, status: internalErrorStatus(request.uid) };
  }
}
