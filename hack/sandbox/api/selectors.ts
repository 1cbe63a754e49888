/**
 * Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) and field selectors (`a.b=c,d!=e`), parsed from
 * query strings the way the API server accepts them, and `metav1.LabelSelector` objects from specs.
 */
import { badRequest, isObject, type KubeObject } from "./types.ts";

export type Requirement =
  { key: string; op: "in" | "notin"; values: string[] } | { key: string; op: "exists" | "!exists" };

export type Selector = (labels: Readonly<Record<string, string>>) => boolean;

const matches = (req: Requirement, labels: Readonly<Record<string, string>>): boolean => {
  const has = Object.hasOwn(labels, req.key);
  switch (req.op) {
    case "exists":
      return has;
    case "!exists":
      return !has;
    case "in":
      return has && req.values.includes(labels[req.key] ?? "");
    case "notin":
      return !has || !req.values.includes(labels[req.key] ?? "");
  }
};

const selectorOf =
  (requirements: readonly Requirement[]): Selector =>
  (labels) =>
    requirements.every((r) => matches(r, labels));

/** Splits on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      terms.push(current);
      current = "";
    } else current += ch;
  }
  terms.push(current);
  return terms.map((t) => t.trim()).filter((t) => t !== "");
}

export function parseLabelSelector(text: string | null | undefined): Selector {
  if (!text) return () => true;
  const requirements: Requirement[] = [];
  for (const term of splitTerms(text)) {
    let m: RegExpMatchArray | null;
    if ((m = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term))) {
      const values = (m[3] ?? "").split(",").map((v) => v.trim());
      requirements.push({ key: m[1] ?? "", op: m[2] === "in" ? "in" : "notin", values });
    } else if ((m = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s,]*)$/.exec(term))) {
      requirements.push({ key: m[1] ?? "", op: m[2] === "!=" ? "notin" : "in", values: [m[3] ?? ""] });
    } else if ((m = /^!\s*([^\s!=]+)$/.exec(term))) {
      requirements.push({ key: m[1] ?? "", op: "!exists" });
    } else if ((m = /^([^\s!=(),]+)$/.exec(term))) {
      requirements.push({ key: m[1] ?? "", op: "exists" });
    } else {
      throw badRequest(`unable to parse requirement: ${term}`);
    }
  }
  return selectorOf(requirements);
}

/** A `metav1.LabelSelector` (matchLabels + matchExpressions). A missing selector matches everything. */
export function labelSelectorFromObject(selector: unknown): Selector {
  if (!isObject(selector)) return () => true;
  const requirements: Requirement[] = [];
  if (isObject(selector.matchLabels)) {
    for (const [key, value] of Object.entries(selector.matchLabels)) {
      requirements.push({ key, op: "in", values: [String(value)] });
    }
  }
  if (Array.isArray(selector.matchExpressions)) {
    for (const expr of selector.matchExpressions as unknown[]) {
      if (!isObject(expr)) continue;
      const key = String(expr.key);
      const values = Array.isArray(expr.values) ? expr.values.map(String) : [];
      const op = String(expr.operator);
      if (op === "In") requirements.push({ key, op: "in", values });
      else if (op === "NotIn") requirements.push({ key, op: "notin", values });
      else if (op === "Exists") requirements.push({ key, op: "exists" });
      else if (op === "DoesNotExist") requirements.push({ key, op: "!exists" });
    }
  }
  return selectorOf(requirements);
}

/** A Service's or StatefulSet's `selector` as a plain label map (empty map selects nothing for Services). */
export const mapSelector =
  (selector: Readonly<Record<string, string>>): Selector =>
  (labels) =>
    Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Reads a dotted path (`involvedObject.name`, `status.phase`) as the string a field selector compares. */
function fieldValue(object: KubeObject, path: string): string {
  let current: unknown = object;
  for (const segment of path.split(".")) {
    if (!isObject(current)) return "";
    current = current[segment];
  }
  if (current === undefined || current === null) return "";
  return typeof current === "string" ? current : JSON.stringify(current);
}

export type FieldSelector = (object: KubeObject) => boolean;

export function parseFieldSelector(text: string | null | undefined): FieldSelector {
  if (!text) return () => true;
  const terms = splitTerms(text).map((term) => {
    const m = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid field selector: ${term}`);
    return { path: (m[1] ?? "").trim(), negate: m[2] === "!=", value: (m[3] ?? "").trim() };
  });
  return (object) =>
    terms.every(({ path, negate, value }) => (fieldValue(object, path) === value) !== negate);
}
