/**
 * The benchmarks start the programs as their Deployments do (hack/k8s/image.ts, shippedProgram, from
 * deploymentStart): the Node
 * options before the entry point and the literal environment, read from manifests/<program>/deployment.yaml,
 * so a change to either is measured without a second copy to keep in step.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { deploymentStart } from "../../hack/k8s/image.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "shipped-program-"));
after(() => rmSync(root, { recursive: true, force: true }));

function deployment(yaml: string): string {
  const dir = mkdtempSync(join(root, "rev-"));
  mkdirSync(join(dir, "manifests", "controller"), { recursive: true });
  writeFileSync(join(dir, "manifests", "controller", "deployment.yaml"), yaml);
  return dir;
}

describe("deploymentStart", () => {
  it("takes the Node options and the literal environment of the Deployment, not the pod's fieldRefs", () => {
    const dir = deployment(`
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: controller
          args: [--max-semi-space-size=4, controller/main.js, --leader-elect]
          env:
            - { name: MALLOC_ARENA_MAX, value: "2" }
            - name: POD_NAMESPACE
              valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
`);
    assert.deepEqual(deploymentStart("controller", dir), {
      nodeArgs: ["--max-semi-space-size=4"],
      env: { MALLOC_ARENA_MAX: "2" },
    });
  });

  it("gives nothing for a revision without the Deployment", () => {
    assert.deepEqual(deploymentStart("controller", mkdtempSync(join(root, "empty-"))), {
      nodeArgs: [],
      env: {},
    });
  });

  it("starts this checkout's controller with MALLOC_ARENA_MAX=2", () => {
    assert.equal(deploymentStart("controller", REPO_ROOT).env.MALLOC_ARENA_MAX, "2");
  });
});
