/**
 * The real CRDs of the operators redis-dr's manifests use (cert-manager's Issuer and Certificate,
 * prometheus-operator's ServiceMonitor and PrometheusRule), read from the Go module cache: both projects are
 * Go modules the module proxy serves, and their repositories keep the generated CRDs as plain YAML.
 *
 *   const files = await upstreamCrdFiles();          // every file of both sets, absolute paths
 *   kubectl apply --server-side -f <each file>
 *
 * cert-manager: `deploy/crds/*.yaml` is controller-gen's output, plain YAML. The Helm chart's
 * `deploy/charts/cert-manager/templates/crd-*.yaml` are templates (`{{ if .Values.crds.enabled }}`, labels
 * from `_helpers.tpl`); their `spec` is identical to these files (compared for v1.21.2), and the release asset
 * `cert-manager.crds.yaml` a user applies is rendered from them, so it differs only in metadata (the
 * chart's labels, `helm.sh/resource-policy: keep`). That asset is not in the module; these files stand in
 * for it. All six are single-version (v1) with no conversion webhook.
 */
import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface UpstreamCrdSet {
  /** Go module path. */
  readonly module: string;
  readonly version: string;
  /** Folder inside the module that holds the CRD files. */
  readonly folder: string;
  readonly files: readonly string[];
}

export const CERT_MANAGER_CRDS: UpstreamCrdSet = {
  module: "github.com/cert-manager/cert-manager",
  version: "v1.21.2",
  folder: "deploy/crds",
  files: [
    "cert-manager.io_certificaterequests.yaml",
    "cert-manager.io_certificates.yaml",
    "cert-manager.io_clusterissuers.yaml",
    "cert-manager.io_issuers.yaml",
    "acme.cert-manager.io_challenges.yaml",
    "acme.cert-manager.io_orders.yaml",
  ],
};

/**
 * The two kinds manifests/monitoring uses. `example/prometheus-operator-crd/` holds the CRDs as the
 * operator's bundle installs them (`-full/` adds fields kept out of the bundle for size).
 */
export const PROMETHEUS_OPERATOR_CRDS: UpstreamCrdSet = {
  module: "github.com/prometheus-operator/prometheus-operator",
  version: "v0.85.0",
  folder: "example/prometheus-operator-crd",
  files: ["monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"],
};

/**
 * The module's folder in the module cache (`go mod download -json` prints it as `Dir`), downloading it on
 * first use. The cache is read-only: read these files, never write next to them.
 */
export async function goModuleDir(module: string, version: string): Promise<string> {
  // Run from / so no go.mod of ours is involved: an explicit module@version needs none. On failure go
  // exits 1 and still prints the JSON, with the reason in `Error`.
  const stdout = await run("go", ["mod", "download", "-json", `${module}@${version}`], {
    cwd: "/",
    maxBuffer: 1 << 20,
  }).then(
    (result) => result.stdout,
    (error: unknown) => {
      const printed = (error as { stdout?: unknown }).stdout;
      if (typeof printed === "string" && printed.trim() !== "") return printed;
      throw error;
    },
  );
  const answer: unknown = JSON.parse(stdout);
  const { Dir, Error: failure } = (answer ?? {}) as { Dir?: unknown; Error?: unknown };
  if (typeof failure === "string") throw new Error(`go mod download ${module}@${version}: ${failure}`);
  if (typeof Dir !== "string") throw new Error(`go mod download ${module}@${version} printed no Dir`);
  return Dir;
}

/** Absolute paths of the sets' CRD files; fails naming the first file a module does not have. */
export async function upstreamCrdFiles(
  sets: readonly UpstreamCrdSet[] = [CERT_MANAGER_CRDS, PROMETHEUS_OPERATOR_CRDS],
): Promise<string[]> {
  const paths: string[] = [];
  for (const set of sets) {
    const dir = await goModuleDir(set.module, set.version);
    for (const file of set.files) {
      const path = join(dir, set.folder, file);
      await access(path).catch(() => {
        throw new Error(`${set.module}@${set.version} has no ${set.folder}/${file}`);
      });
      paths.push(path);
    }
  }
  return paths;
}
