/**
 * Evaluates a CRD schema's `x-kubernetes-validations` the way the Kubernetes API server does, with a real CEL
 * implementation (@bufbuild/cel). Used by the local sandbox's API server and by the tests of our CRD's rules.
 *
 * What follows Kubernetes:
 * - a rule runs at the node that declares it, with `self` bound to the value there, only when that value
 *   exists; a rule that mentions `oldSelf` is a transition rule and runs only on updates where the old value
 *   exists too (at the root that is every update, which is why our promote/revert rule lives there);
 * - values are typed by the schema: `integer` → CEL int, `number` → double, objects → maps with only the
 *   declared properties, and at the root `self.metadata` exposes only `name` and `generateName`;
 * - list items are correlated with their old value only for `x-kubernetes-list-type: map` (by the map keys);
 *   map entries (additionalProperties) by key;
 * - a failed rule is reported at the node's path plus its `fieldPath`, with `messageExpression`, `message` or
 *   `failed rule: <rule>`, and its `reason` (FieldValueInvalid by default); an Invalid error prints the value
 *   of a scalar node and leaves out that of an object or array (`Invalid value: <message>`), like 1.37;
 * - the errors are the API server's field errors (hack/sandbox/api/field-errors.ts), printed like its own.
 *
 * What it does not do: cost estimation and limits, type-checking at CRD creation, the Kubernetes CEL libraries
 * beyond the standard ones and the strings extension, `optionalOldSelf`, and `format: date-time` as timestamps.
 */
import { celEnv, isCelError, parse, plan, type CelEnv } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import type { CelRule, SchemaNode } from "../../schemas/rediscluster.ts";
import {
  childPath,
  forbidden,
  indexPath,
  invalid,
  invalidOmittingValue,
  keyPath,
  required,
  type FieldErrorOf,
} from "../sandbox/api/field-errors.ts";

type Program = (bindings: Record<string, unknown>) => unknown;

/** What a rule reports: the error type of its `reason` (Required, Forbidden), otherwise Invalid. */
export type CelFieldError = FieldErrorOf<"FieldValueRequired" | "FieldValueInvalid" | "FieldValueForbidden">;

const env: CelEnv = celEnv({ funcs: strings });
const programs = new Map<string, Program>();

/** Parses a CEL expression, throwing an Error that names the expression when it does not parse. */
export function compileRule(expression: string): Program {
  let program = programs.get(expression);
  if (!program) {
    try {
      program = plan(env, parse(expression)) as Program;
    } catch (error) {
      throw new Error(`CEL expression does not parse: ${expression}: ${(error as Error).message}`);
    }
    programs.set(expression, program);
  }
  return program;
}

export const isTransitionRule = (rule: CelRule): boolean => /\boldSelf\b/.test(rule.rule);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Converts a JSON value to the CEL value Kubernetes would bind for this schema node. */
export function toCel(value: unknown, node: SchemaNode | undefined, atRoot = false): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") {
    const integral =
      node?.type === "integer" || (node?.["x-kubernetes-int-or-string"] && Number.isInteger(value));
    return integral && Number.isInteger(value) ? BigInt(value) : value;
  }
  if (Array.isArray(value)) return value.map((item) => toCel(item, node?.items));
  if (isObject(value)) {
    const map = new Map<string, unknown>();
    for (const [key, child] of Object.entries(value)) {
      if (atRoot && key === "metadata" && isObject(child)) {
        map.set(key, metadataView(child));
        continue;
      }
      const childNode = childSchema(node, key);
      if (childNode) map.set(key, toCel(child, childNode));
    }
    return map;
  }
  return value;
}

function metadataView(metadata: Record<string, unknown>): Map<string, unknown> {
  const view = new Map<string, unknown>();
  for (const key of ["name", "generateName"]) {
    if (typeof metadata[key] === "string") view.set(key, metadata[key]);
  }
  return view;
}

function childSchema(node: SchemaNode | undefined, key: string): SchemaNode | undefined {
  if (!node) return undefined;
  const declared = node.properties?.[key];
  if (declared) return declared;
  return typeof node.additionalProperties === "object" ? node.additionalProperties : undefined;
}

/** `.spec.replicaMode.promote` relative to `base`. */
function resolveFieldPath(base: string, fieldPath: string | undefined): string {
  const names = (fieldPath ?? "").split(".").filter((name) => name !== "");
  return names.reduce(childPath, base);
}

function ruleError(
  rule: CelRule,
  path: string,
  node: SchemaNode,
  value: unknown,
  message: string,
): CelFieldError {
  const at = resolveFieldPath(path, rule.fieldPath);
  switch (rule.reason) {
    case "FieldValueForbidden":
      return forbidden(at, message);
    case "FieldValueRequired":
      return required(at, message);
    default:
      // The value of a scalar is printed; that of an object or an array is left out.
      return node.type === "object" || node.type === "array"
        ? invalidOmittingValue(at, message)
        : invalid(at, value, message);
  }
}

/** The rule's message, or the rule itself, in the API server's evaluation errors. */
const ruleErrorString = (rule: CelRule): string => (rule.message ?? rule.rule).trim();

function evaluateRule(
  rule: CelRule,
  node: SchemaNode,
  path: string,
  value: unknown,
  bindings: Record<string, unknown>,
): CelFieldError | undefined {
  const result = compileRule(rule.rule)(bindings);
  if (result === true) return undefined;
  if (isCelError(result)) {
    // The API server prints the node's schema type in place of the value here ("" for int-or-string).
    return invalid(path, node.type ?? "", `${result.message} evaluating rule: ${ruleErrorString(rule)}`);
  }
  let message = rule.message?.trim() || `failed rule: ${ruleErrorString(rule)}`;
  if (rule.messageExpression) {
    // A message expression that fails, or gives no single line of text, falls back to the message.
    const text = compileRule(rule.messageExpression)(bindings);
    if (typeof text === "string" && text.trim() !== "" && !text.includes("\n")) message = text.trim();
  }
  return ruleError(rule, path, node, value, message);
}

function listMapKey(item: unknown, keys: readonly string[]): string | undefined {
  return isObject(item) ? JSON.stringify(keys.map((key) => item[key])) : undefined;
}

function visit(
  node: SchemaNode,
  value: unknown,
  oldValue: unknown,
  path: string,
  atRoot: boolean,
  errors: CelFieldError[],
): void {
  if (value === undefined || value === null) return;
  const rules = node["x-kubernetes-validations"] ?? [];
  if (rules.length > 0) {
    const self = toCel(value, node, atRoot);
    const oldSelf = oldValue === undefined || oldValue === null ? undefined : toCel(oldValue, node, atRoot);
    for (const rule of rules) {
      if (isTransitionRule(rule) && oldSelf === undefined) continue;
      const bindings = oldSelf === undefined ? { self } : { self, oldSelf };
      const error = evaluateRule(rule, node, path, value, bindings);
      if (error) errors.push(error);
    }
  }

  if (Array.isArray(value) && node.items) {
    const keys = node["x-kubernetes-list-type"] === "map" ? (node["x-kubernetes-list-map-keys"] ?? []) : [];
    const oldByKey = new Map<string, unknown>();
    if (keys.length > 0 && Array.isArray(oldValue)) {
      for (const item of oldValue) {
        const key = listMapKey(item, keys);
        if (key !== undefined) oldByKey.set(key, item);
      }
    }
    value.forEach((item, i) => {
      const key = keys.length > 0 ? listMapKey(item, keys) : undefined;
      const oldItem = key === undefined ? undefined : oldByKey.get(key);
      visit(node.items as SchemaNode, item, oldItem, indexPath(path, i), false, errors);
    });
    return;
  }

  if (isObject(value)) {
    const old = isObject(oldValue) ? oldValue : undefined;
    for (const [key, child] of Object.entries(value)) {
      const declared = node.properties?.[key];
      const childNode =
        declared ?? (typeof node.additionalProperties === "object" ? node.additionalProperties : undefined);
      if (!childNode) continue;
      visit(
        childNode,
        child,
        old?.[key],
        declared ? childPath(path, key) : keyPath(path, key),
        false,
        errors,
      );
    }
  }
}

/**
 * Every CEL rule of `schema` that `object` breaks; `oldObject` is the stored object on an update (undefined on
 * create), which enables transition rules.
 */
export function validateWithCel(
  schema: SchemaNode,
  object: unknown,
  oldObject: unknown | undefined,
): CelFieldError[] {
  const errors: CelFieldError[] = [];
  visit(schema, object, oldObject, "", true, errors);
  return errors;
}
