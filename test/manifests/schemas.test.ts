/**
 * Every object the manifests render is valid against its published schema: Kubernetes' own (kubernetes-models),
 * cert-manager's, the Prometheus Operator's and Argo CD's (@kubernetes-models/*), and RedisClusters against
 * our CRD's schema (the webhook's structural validator). The models' validators accept fields they do not
 * know, so the objects are also type-checked against the same packages' TypeScript interfaces, whose
 * excess-property check names any unknown field (a misspelt `readOnlyRootFileSystem`).
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";
import { validateStructure } from "../../webhook/validation/structural.ts";
import { formatFieldErrors } from "../../kube-common/field-errors.ts";
import {
  MANIFESTS,
  REPO_ROOT,
  kustomize,
  kustomizeWithComponents,
  oneOf,
  parseObjects,
  type KubeObject,
} from "./helpers.ts";

interface Validatable {
  validate(): void;
}
type Model = new (data: never) => Validatable;

/**
 * The model module of each apiVersion/kind the manifests may contain. Each exports the class `<Kind>`, whose
 * validate() checks types, formats and required fields, and the interface `I<Kind>`. Anything else fails.
 */
const MODEL_MODULES: Readonly<Record<string, string>> = {
  "v1/Namespace": "kubernetes-models/v1/Namespace",
  "v1/Service": "kubernetes-models/v1/Service",
  "v1/ServiceAccount": "kubernetes-models/v1/ServiceAccount",
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "batch/v1/CronJob": "kubernetes-models/batch/v1/CronJob",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget",
  "networking.k8s.io/v1/NetworkPolicy": "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
  "rbac.authorization.k8s.io/v1/ClusterRole": "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole",
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
    "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding",
  "rbac.authorization.k8s.io/v1/Role": "kubernetes-models/rbac.authorization.k8s.io/v1/Role",
  "rbac.authorization.k8s.io/v1/RoleBinding": "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding",
  "apiextensions.k8s.io/v1/CustomResourceDefinition":
    "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition",
  "admissionregistration.k8s.io/v1/MutatingWebhookConfiguration":
    "kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration",
  "admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration":
    "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration",
  "cert-manager.io/v1/Issuer": "@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer",
  "cert-manager.io/v1/Certificate": "@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate",
  "monitoring.coreos.com/v1/ServiceMonitor":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
  "monitoring.coreos.com/v1/PrometheusRule":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
  "argoproj.io/v1alpha1/Application": "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application",
};

const typeKey = (object: KubeObject) => `${object.apiVersion}/${object.kind}`;
const describeObject = (object: KubeObject) =>
  `${object.kind} ${object.metadata.namespace ?? ""}/${object.metadata.name}`;

const MODELS: Readonly<Record<string, Model>> = Object.fromEntries(
  await Promise.all(
    Object.entries(MODEL_MODULES).map(async ([key, module]) => {
      const kind = key.slice(key.lastIndexOf("/") + 1);
      const exported = (await import(module)) as Record<string, Model>;
      return [key, exported[kind]];
    }),
  ),
);

/** Problems of one object against its model's validator; empty when it is valid. */
function schemaProblems(object: KubeObject): string[] {
  const where = describeObject(object);
  if (object.apiVersion === "redis.io/v1" && object.kind === "RedisCluster") {
    const errors = validateStructure(object);
    return errors.length === 0 ? [] : [`${where}: ${formatFieldErrors(errors)}`];
  }
  const model = MODELS[typeKey(object)];
  if (model === undefined) return [`${where}: no schema known for ${object.apiVersion} ${object.kind}`];
  try {
    new model(object as never).validate();
    return [];
  } catch (error) {
    return [`${where}: ${error instanceof Error ? error.message : String(error)}`];
  }
}

/** The dotted path (with [index] for list items) of the property the node at `position` belongs to. */
function fieldPathAt(source: ts.SourceFile, position: number): string {
  const contains = (node: ts.Node) => node.getStart(source) <= position && position < node.end;
  let fieldPath = "";
  let node: ts.Node | undefined = source;
  while (node !== undefined) {
    if (ts.isPropertyAssignment(node) && ts.isStringLiteral(node.name)) fieldPath += `.${node.name.text}`;
    const parent: ts.Node = node;
    node = ts.forEachChild(parent, (child) => (contains(child) ? child : undefined));
    if (node !== undefined && ts.isArrayLiteralExpression(parent)) {
      fieldPath += `[${parent.elements.indexOf(node as ts.Expression)}]`;
    }
  }
  return fieldPath.slice(1);
}

/**
 * Fields the models do not know, and any other disagreement with their TypeScript types: each object becomes
 * `const o: I<Kind> = <object>;` in an in-memory module type-checked with the project's compiler options.
 * Objects without a model (RedisClusters, unknown kinds) are left to schemaProblems.
 */
function typeProblems(objects: readonly KubeObject[]): string[] {
  const checked = objects.filter((object) => MODEL_MODULES[typeKey(object)] !== undefined);
  const types = [...new Set(checked.map(typeKey))];
  const imports = types.map(
    (key, index) =>
      `import type { I${key.slice(key.lastIndexOf("/") + 1)} as T${index} } from "${MODEL_MODULES[key]}";`,
  );
  // One object per line, so a diagnostic's line names its object.
  const declarations = checked.map(
    (object, index) =>
      `export const o${index}: T${types.indexOf(typeKey(object))} = ${JSON.stringify(object)};`,
  );
  const file = path.join(REPO_ROOT, "test/manifests/rendered-objects.ts"); // in memory only
  const text = [...imports, ...declarations].join("\n");
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(REPO_ROOT, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
      },
    },
  );
  assert.ok(config);
  const options = { ...config.options, types: [] };
  const host = ts.createCompilerHost(options);
  const readSource = host.getSourceFile.bind(host);
  const exists = host.fileExists.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(name, text, language, true) : readSource(name, language, ...rest);
  host.fileExists = (name) => name === file || exists(name);
  const program = ts.createProgram([file], options, host);
  const source = program.getSourceFile(file);
  assert.ok(source);
  return ts.getPreEmitDiagnostics(program, source).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, " ");
    const start = diagnostic.start ?? 0;
    const line = source.getLineAndCharacterOfPosition(start).line - imports.length;
    const object = checked[line];
    if (object === undefined) return message; // an import that does not resolve
    return `${describeObject(object)}: ${fieldPathAt(source, start)}: ${message}`;
  });
}

function assertAllValid(objects: readonly KubeObject[]): void {
  assert.deepEqual([...objects.flatMap(schemaProblems), ...typeProblems(objects)], []);
}

/** Every *.yaml under a folder of manifests/ that is not a kustomization file, parsed as is. */
function plainManifests(folder: string): KubeObject[] {
  const directory = path.join(MANIFESTS, folder);
  return readdirSync(directory, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".yaml") && path.basename(file) !== "kustomization.yaml")
    .flatMap((file) => parseObjects(readFileSync(path.join(directory, file), "utf8"), `${folder}/${file}`));
}

describe("manifests match their schemas", () => {
  it("the default installation renders only valid objects", () => {
    assertAllValid(kustomize(MANIFESTS));
  });

  it("the installation with every optional component renders only valid objects", () => {
    assertAllValid(
      kustomizeWithComponents(["monitoring/service-monitor", "monitoring/prometheus-rule", "network-policy"]),
    );
  });

  it("the DR health-check example renders only valid objects", () => {
    assertAllValid(kustomize(path.join(MANIFESTS, "examples/dr-health-check")));
  });

  it("the reference's RedisClusters and Services under examples/ are valid", () => {
    const objects = [...plainManifests("examples/basic"), ...plainManifests("examples/cross-region")];
    assert.deepEqual(objects.map((o) => `${o.kind} ${o.metadata.name}`).sort(), [
      "RedisCluster dr-redis",
      "RedisCluster prod-redis",
      "RedisCluster redis-east",
      "RedisCluster redis-east",
      "RedisCluster redis-west",
      "Service redis-east-external",
      "Service redis-west-external",
    ]);
    assertAllValid(objects);
  });

  it("the Argo CD assets (argocd-cm patch, Applications) are valid", () => {
    assertAllValid(plainManifests("argocd"));
  });

  it("an object with a wrong field type is reported, so the check is not vacuous", () => {
    const broken = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "broken" },
      spec: { ports: [{ port: "not-a-number" }] },
    };
    const problems = schemaProblems(broken);
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? "", /Service \/broken: .*port must be integer/);
  });

  it("an object with a misspelt field is reported with the field's path, which the validators alone miss", () => {
    const installation = kustomize(MANIFESTS);
    const webhook = structuredClone(oneOf(installation, "Deployment", "redis-dr-webhook"));
    const container = (webhook["spec"] as { template: { spec: { containers: Record<string, unknown>[] } } })
      .template.spec.containers[0];
    assert.ok(container);
    container["securityContext"] = {
      allowPrivilegeEscalation: false,
      readOnlyRootFileSystem: true,
      capabilities: { drop: ["ALL"] },
    };
    assert.deepEqual(schemaProblems(webhook), []);
    assert.deepEqual(typeProblems([webhook]), [
      "Deployment redis-dr-system/redis-dr-webhook: spec.template.spec.containers[0].securityContext." +
        "readOnlyRootFileSystem: Object literal may only specify known properties, and " +
        "'\"readOnlyRootFileSystem\"' does not exist in type 'ISecurityContext'.",
    ]);
  });

  it("a misspelt field of a custom resource (cert-manager's Certificate) is reported too", () => {
    const certificate = structuredClone(oneOf(kustomize(MANIFESTS), "Certificate", "redis-dr-webhook"));
    const spec = certificate["spec"] as Record<string, unknown>;
    spec["dnsName"] = spec["dnsNames"];
    delete spec["dnsNames"];
    assert.deepEqual(schemaProblems(certificate), []);
    const problems = typeProblems([certificate]);
    assert.equal(problems.length, 1);
    assert.match(
      problems[0] ?? "",
      /^Certificate redis-dr-system\/redis-dr-webhook: spec\.dnsName: Object literal may only specify known properties, and '"dnsName"' does not exist in type /,
    );
  });
});
