/**
 * The API server's own request counter, `apiserver_request_total` (labels verb, group, version, resource,
 * subresource, scope, component, code, dry_run — no client label), read from its /metrics. Tests and
 * benchmarks on the real control plane read it before and after a window and compare.
 */

/** apiserver_request_total of a /metrics text, summed by "VERB resource" (subresources apart:
 * "PATCH redisclusters/status"). Requests for no resource have an empty resource label and their path in
 * subresource, so their keys start "VERB /" ("GET //readyz"). */
export function parseRequestTotals(metricsText: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const [, labels = "", value] of metricsText.matchAll(/^apiserver_request_total\{([^}]*)\} (\S+)$/gm)) {
    const label = (name: string) => new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1] ?? "";
    const sub = label("subresource");
    const key = `${label("verb")} ${label("resource")}${sub === "" ? "" : `/${sub}`}`;
    totals.set(key, (totals.get(key) ?? 0) + Number(value));
  }
  return totals;
}

/** What each "VERB resource" grew by from `before` to `after` (keys that did not grow are left out). */
export function requestDeltas(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
): Map<string, number> {
  const deltas = new Map<string, number>();
  for (const [key, count] of after) {
    const delta = count - (before.get(key) ?? 0);
    if (delta > 0) deltas.set(key, delta);
  }
  return deltas;
}
