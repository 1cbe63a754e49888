/**
 * The layering rule of eslint.config.js (controller/README.md, "Layering"): an upward import in the
 * controller, an import of the other program, or kube-common/ reaching outside itself fails `npm run lint`.
 * Snippets are linted as if they were files at the given paths; the real tree must lint clean for the rule.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { ESLint } from "eslint";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const RULE = "no-restricted-imports";
const LAYERS = "watch → reconcile → replication → kube → status, metrics → model → redis";

// The project's configuration without type information: import rules need none, and building the
// TypeScript program for the whole tree would make this the slowest unit test.
const eslint = new ESLint({
  cwd: REPO_ROOT,
  overrideConfigFile: path.join(REPO_ROOT, "eslint.config.js"),
  overrideConfig: {
    languageOptions: { parserOptions: { projectService: false } },
    rules: {
      "@typescript-eslint/no-floating-promises": "off",
      "@typescript-eslint/no-misused-promises": "off",
      "@typescript-eslint/switch-exhaustiveness-check": "off",
    },
  },
});

/** The layering errors for `source` imported (for its side effects only) from a file at `file`. */
async function layeringErrors(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import "${source}";\n`, { filePath: path.join(REPO_ROOT, file) });
  assert.ok(result, `no lint result for ${file}`);
  return result.messages.filter((message) => message.ruleId === RULE).map((message) => message.message);
}

const restricted = (source: string, message: string): string =>
  `'${source}' import is restricted from being used by a pattern. ${message}`;

describe("layering", () => {
  const refused = [
    {
      name: "kube/ importing reconcile/ (upward)",
      file: "controller/kube/resources.ts",
      source: "../reconcile/context.ts",
      message: `controller/kube/ may import only redis/, model/, status/, metrics/ of the controller's folders: the layers are ${LAYERS} (controller/README.md, "Layering").`,
    },
    {
      name: "replication/ importing reconcile/ (upward)",
      file: "controller/replication/decisions/catch-up.ts",
      source: "../../reconcile/context.ts",
      message: `controller/replication/ may import only redis/, model/, status/, metrics/, kube/ of the controller's folders: the layers are ${LAYERS} (controller/README.md, "Layering").`,
    },
    {
      name: "status/ importing metrics/ (same layer)",
      file: "controller/status/conditions.ts",
      source: "../metrics/metrics.ts",
      message: `controller/status/ may import only redis/, model/ of the controller's folders: the layers are ${LAYERS} (controller/README.md, "Layering").`,
    },
    {
      name: "redis/ importing model/",
      file: "controller/redis/info.ts",
      source: "../model/pods.ts",
      message: `controller/redis/ may import none of the controller's other folders: the layers are ${LAYERS} (controller/README.md, "Layering").`,
    },
    {
      name: "replication/ importing the entry point",
      file: "controller/replication/engine.ts",
      source: "../controller.ts",
      message:
        "controller/replication/ may import only redis/, model/, status/, metrics/, kube/ of the controller's folders: the entry point wires the layers, nothing imports it.",
    },
    {
      name: "the controller importing webhook/",
      file: "controller/main.ts",
      source: "../webhook/kube/secret-reader.ts",
      message: "webhook/ is the other program: share code through kube-common/ or schemas/.",
    },
    {
      name: "the webhook importing controller/",
      file: "webhook/validation/rules/replica-source.ts",
      source: "../../../controller/model/pods.ts",
      message: "controller/ is the other program: share code through kube-common/ or schemas/.",
    },
    {
      name: "kube-common/ importing outside itself",
      file: "kube-common/field-errors.ts",
      source: "../schemas/rediscluster.ts",
      message: "kube-common/ is shared by both programs: it imports nothing outside itself.",
    },
  ];
  for (const { name, file, source, message } of refused) {
    it(`refuses ${name}`, async () => {
      assert.deepEqual(await layeringErrors(file, source), [restricted(source, message)]);
    });
  }

  const allowed = [
    {
      name: "reconcile/ importing replication/",
      file: "controller/reconcile/context.ts",
      source: "../replication/context.ts",
    },
    { name: "kube/ importing model/", file: "controller/kube/resources.ts", source: "../model/pods.ts" },
    { name: "model/ importing redis/", file: "controller/model/pods.ts", source: "../redis/admin-port.ts" },
    {
      name: "the entry point importing watch/",
      file: "controller/main.ts",
      source: "./watch/leader-election.ts",
    },
    {
      name: "the controller importing kube-common/",
      file: "controller/main.ts",
      source: "../kube-common/kube-config.ts",
    },
    {
      name: "the webhook importing kube-common/",
      file: "webhook/main.ts",
      source: "../kube-common/kube-config.ts",
    },
  ];
  for (const { name, file, source } of allowed) {
    it(`allows ${name}`, async () => {
      assert.deepEqual(await layeringErrors(file, source), []);
    });
  }

  it("finds no wrong import in controller/, webhook/ and kube-common/", async () => {
    const results = await eslint.lintFiles(["controller", "webhook", "kube-common"]);
    const errors = results.flatMap((result) =>
      result.messages
        .filter((message) => message.ruleId === RULE)
        .map((message) => `${path.relative(REPO_ROOT, result.filePath)}:${message.line}: ${message.message}`),
    );
    assert.deepEqual(errors, []);
  });
});
