/**
 * The resource types the sandbox serves: the built-in ones the project uses, plus one per installed CRD
 * version. Discovery, routing, messages and Table columns all read from here.
 */
import type { JsonObject } from "./types.ts";

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

export interface ResourceType {
  group: string;
  version: string;
  /** Plural, lowercase: the name in URLs. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: readonly string[];
  categories: readonly string[];
  /** Whether `/status` is a separate subresource (the main endpoint then ignores status). */
  statusSubresource: boolean;
  /** Whether metadata.generation is bumped on changes outside metadata and status. */
  tracksGeneration: boolean;
  /** Custom resources: the CRD version's openAPIV3Schema and printer columns. */
  schema?: JsonObject;
  printerColumns?: readonly PrinterColumn[];
  /** Set for custom resources. */
  crdName?: string;
}

export const apiVersionOf = (type: Pick<ResourceType, "group" | "version">): string =>
  type.group === "" ? type.version : `${type.group}/${type.version}`;

/** The key objects of this type are stored under (all versions of a group/resource share storage). */
export const storageKey = (type: Pick<ResourceType, "group" | "resource">): string =>
  `${type.group}/${type.resource}`;

const builtin = (
  group: string,
  version: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  extra: Partial<ResourceType> = {},
): ResourceType => ({
  group,
  version,
  resource,
  singular: kind.toLowerCase(),
  kind,
  namespaced,
  shortNames: [],
  categories: [],
  statusSubresource: false,
  tracksGeneration: false,
  ...extra,
});

export const BUILTIN_TYPES: readonly ResourceType[] = [
  builtin("", "v1", "namespaces", "Namespace", false, { shortNames: ["ns"], statusSubresource: true }),
  builtin("", "v1", "secrets", "Secret", true),
  builtin("", "v1", "configmaps", "ConfigMap", true, { shortNames: ["cm"] }),
  builtin("", "v1", "services", "Service", true, {
    shortNames: ["svc"],
    statusSubresource: true,
    categories: ["all"],
  }),
  builtin("", "v1", "endpoints", "Endpoints", true, { shortNames: ["ep"] }),
  builtin("", "v1", "pods", "Pod", true, {
    shortNames: ["po"],
    statusSubresource: true,
    categories: ["all"],
  }),
  builtin("", "v1", "events", "Event", true, { shortNames: ["ev"] }),
  builtin("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, {
    shortNames: ["pvc"],
    statusSubresource: true,
  }),
  builtin("", "v1", "serviceaccounts", "ServiceAccount", true, { shortNames: ["sa"] }),
  // Stored only; served so that `kubectl get rc` means ReplicationControllers here too, as in a cluster.
  builtin("", "v1", "replicationcontrollers", "ReplicationController", true, {
    shortNames: ["rc"],
    statusSubresource: true,
    tracksGeneration: true,
    categories: ["all"],
  }),
  builtin("apps", "v1", "statefulsets", "StatefulSet", true, {
    shortNames: ["sts"],
    statusSubresource: true,
    tracksGeneration: true,
    categories: ["all"],
  }),
  builtin("apps", "v1", "deployments", "Deployment", true, {
    shortNames: ["deploy"],
    statusSubresource: true,
    tracksGeneration: true,
    categories: ["all"],
  }),
  builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, {
    shortNames: ["pdb"],
    statusSubresource: true,
    tracksGeneration: true,
  }),
  builtin("coordination.k8s.io", "v1", "leases", "Lease", true),
  builtin("events.k8s.io", "v1", "events", "Event", true, { shortNames: ["ev"] }),
  builtin(
    "admissionregistration.k8s.io",
    "v1",
    "validatingwebhookconfigurations",
    "ValidatingWebhookConfiguration",
    false,
    { tracksGeneration: true },
  ),
  builtin(
    "admissionregistration.k8s.io",
    "v1",
    "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration",
    false,
    { tracksGeneration: true },
  ),
  builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, {
    shortNames: ["crd", "crds"],
    statusSubresource: true,
    tracksGeneration: true,
  }),
  builtin("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, { shortNames: ["netpol"] }),
  builtin("batch", "v1", "jobs", "Job", true, { statusSubresource: true, tracksGeneration: true }),
  builtin("batch", "v1", "cronjobs", "CronJob", true, {
    shortNames: ["cj"],
    statusSubresource: true,
    tracksGeneration: true,
  }),
  builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
  builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true),
  builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false),
  builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false),
];

interface CrdVersion {
  name?: string;
  served?: boolean;
  subresources?: { status?: unknown };
  schema?: { openAPIV3Schema?: JsonObject };
  additionalPrinterColumns?: PrinterColumn[];
}

export interface CrdSpec {
  group: string;
  scope: "Namespaced" | "Cluster";
  names: {
    kind: string;
    listKind?: string;
    plural: string;
    singular?: string;
    shortNames?: string[];
    categories?: string[];
  };
  versions: CrdVersion[];
}

/** One ResourceType per served version of a CustomResourceDefinition. */
export function typesOfCrd(crdName: string, spec: CrdSpec): ResourceType[] {
  return spec.versions
    .filter((v) => v.served !== false && typeof v.name === "string")
    .map((v) => ({
      group: spec.group,
      version: v.name ?? "",
      resource: spec.names.plural,
      singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
      kind: spec.names.kind,
      namespaced: spec.scope === "Namespaced",
      shortNames: spec.names.shortNames ?? [],
      categories: spec.names.categories ?? [],
      statusSubresource: v.subresources?.status !== undefined,
      tracksGeneration: true,
      ...(v.schema?.openAPIV3Schema ? { schema: v.schema.openAPIV3Schema } : {}),
      printerColumns: v.additionalPrinterColumns ?? [],
      crdName,
    }));
}

/** The mutable set of served resource types. */
export class ResourceRegistry {
  private types: ResourceType[] = [...BUILTIN_TYPES];

  all(): readonly ResourceType[] {
    return this.types;
  }

  find(group: string, version: string, resource: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.version === version && t.resource === resource);
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.types.find((t) => apiVersionOf(t) === apiVersion && t.kind === kind);
  }

  groupVersions(): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const t of this.types) {
      const versions = groups.get(t.group) ?? [];
      if (!versions.includes(t.version)) versions.push(t.version);
      groups.set(t.group, versions);
    }
    return groups;
  }

  setCrd(crdName: string, types: readonly ResourceType[]): void {
    this.types = this.types.filter((t) => t.crdName !== crdName).concat(types);
  }

  removeCrd(crdName: string): void {
    this.types = this.types.filter((t) => t.crdName !== crdName);
  }
}
