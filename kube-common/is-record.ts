/** A JSON object (not null, not an array): what a Kubernetes object, or any of its nested objects, parses to. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
