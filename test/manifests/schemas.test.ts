/**
 * Every object the manifests render is valid against its published schema: Kubernetes' own (kubernetes-models),
 * cert-manager's, the Prometheus Operator's and Argo CD's (@kubernetes-models/*), and RedisClusters against
 * our CRD's schema (the webhook's structural validator).
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { Certificate } from "@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate";
import { Issuer } from "@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Application } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application";
import { MutatingWebhookConfiguration } from "kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration";
import { ValidatingWebhookConfiguration } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { validateStructure } from "../../webhook/validation/structural.ts";
import { formatFieldErrors } from "../../webhook/validation/field-errors.ts";
import { MANIFESTS, kustomize, kustomizeWithComponents, parseObjects, type KubeObject } from "./helpers.ts";

interface Validatable {
  validate(): void;
}
type Model = new (data: never) => Validatable;

/** The schema of each apiVersion/kind the manifests may contain. Anything else fails the test. */
const MODELS: Readonly<Record<string, Model>> = {
  "v1/Namespace": Namespace,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "v1/ConfigMap": ConfigMap,
  "apps/v1/Deployment": Deployment,
  "batch/v1/CronJob": CronJob,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
  "apiextensions.k8s.io/v1/CustomResourceDefinition": CustomResourceDefinition,
  "admissionregistration.k8s.io/v1/MutatingWebhookConfiguration": MutatingWebhookConfiguration,
  "admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": ValidatingWebhookConfiguration,
  "cert-manager.io/v1/Issuer": Issuer,
  "cert-manager.io/v1/Certificate": Certificate,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
  "argoproj.io/v1alpha1/Application": Application,
};

/** Problems of one object against its schema; empty when it is valid. */
function schemaProblems(object: KubeObject): string[] {
  const where = `${object.kind} ${object.metadata.namespace ?? ""}/${object.metadata.name}`;
  if (object.apiVersion === "redis.io/v1" && object.kind === "RedisCluster") {
    const errors = validateStructure(object);
    return errors.length === 0 ? [] : [`${where}: ${formatFieldErrors(errors)}`];
  }
  const model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (model === undefined) return [`${where}: no schema known for ${object.apiVersion} ${object.kind}`];
  try {
    new model(object as never).validate();
    return [];
  } catch (error) {
    return [`${where}: ${error instanceof Error ? error.message : String(error)}`];
  }
}

function assertAllValid(objects: readonly KubeObject[]): void {
  assert.deepEqual(objects.flatMap(schemaProblems), []);
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
});
