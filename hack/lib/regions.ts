/**
 * The reference's cross-region example on one sandbox: namespace `us-east` plays region us-east-1 and
 * `us-west` plays us-west-2, and the wide-area network between them is a pair of TCP proxies (one per
 * direction) in front of each region's LoadBalancer address, so a drill can cut the regions apart.
 * Manifests come from manifests/examples/cross-region/, adjusted only where the sandbox needs it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { REPO_ROOT } from "../sandbox/sandbox.ts";

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  spec: Record<string, unknown>;
  [key: string]: unknown;
}

/** The single object in an example file, as plain JSON. */
export function exampleManifest(relativePath: string): ManifestObject {
  const text = readFileSync(join(REPO_ROOT, "manifests/examples", relativePath), "utf8");
  return YAML.parse(text) as ManifestObject;
}

export function withSpec(object: ManifestObject, spec: Record<string, unknown>): ManifestObject {
  return { ...object, spec: { ...object.spec, ...spec } };
}

export function inNamespace(object: ManifestObject, namespace: string): ManifestObject {
  return { ...object, metadata: { ...object.metadata, namespace } };
}

/** Replaces replicaMode.source.host/port (the example's documentation addresses) with a real one. */
export function withSource(object: ManifestObject, host: string, port: number): ManifestObject {
  const replicaMode = object.spec["replicaMode"] as { source: Record<string, unknown> } & Record<
    string,
    unknown
  >;
  return withSpec(object, { replicaMode: { ...replicaMode, source: { ...replicaMode.source, host, port } } });
}
