// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The controller's layers, lowest first (controller/README.md, "Layering"). A folder may import the folders
 * of the layers below its own, never a folder of its own layer or above, nor the entry point (main.ts,
 * controller.ts, config.ts), which may import any of them.
 */
const CONTROLLER_LAYERS = [
  ["redis"],
  ["model"],
  ["status", "metrics"],
  ["kube"],
  ["replication"],
  ["reconcile"],
  ["watch"],
];
const LAYER_ORDER = [...CONTROLLER_LAYERS]
  .reverse()
  .map((layer) => layer.join(", "))
  .join(" → ");

/**
 * An import of the other program: each may use schemas/ and kube-common/, never the other's folder.
 * @param {string} program
 */
const otherProgram = (program) => ({
  regex: `(^|/)${program}/`,
  message: `${program}/ is the other program: share code through kube-common/ or schemas/.`,
});

/**
 * no-restricted-imports for one controller folder: the folders it may not import, and the webhook.
 * @param {string} folder
 * @param {number} index its layer's, in CONTROLLER_LAYERS
 */
function controllerLayer(folder, index) {
  const below = CONTROLLER_LAYERS.slice(0, index).flat();
  const forbidden = CONTROLLER_LAYERS.flat().filter((other) => other !== folder && !below.includes(other));
  const rule =
    below.length > 0
      ? `controller/${folder}/ may import only ${below.map((f) => `${f}/`).join(", ")} of the controller's folders`
      : `controller/${folder}/ may import none of the controller's other folders`;
  return {
    files: [`controller/${folder}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            ...forbidden.map((other) => ({
              regex: `(^|/)${other}/`,
              message: `${rule}: the layers are ${LAYER_ORDER} (controller/README.md, "Layering").`,
            })),
            {
              regex: String.raw`^(\.\./)+(main|controller|config)\.ts$`,
              message: `${rule}: the entry point wires the layers, nothing imports it.`,
            },
            otherProgram("webhook"),
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ["node_modules/**", ".sandbox/**", ".scratch/**", "dist/**", "schemas/generated/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Type-aware rules: a promise nobody awaits or handles, a promise where a callback must return
    // nothing, a switch over a union that forgets a member.
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ["eslint.config.js"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // node:test's describe/it return promises the runner itself tracks.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["describe", "it", "test", "suite"] },
          ],
        },
      ],
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": [
        "error",
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
    },
  },
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": ["error", { allow: ["error"] }],
    },
  },
  {
    // Command-line entry points and dev tools print to the terminal on purpose.
    files: ["hack/**/*.ts", "schemas/generate.ts", "**/main.ts"],
    rules: { "no-console": "off" },
  },
  // Layering: what each folder may import (later blocks replace the rule's options for their files).
  {
    files: ["controller/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [otherProgram("webhook")] }] },
  },
  ...CONTROLLER_LAYERS.flatMap((layer, index) => layer.map((folder) => controllerLayer(folder, index))),
  {
    files: ["webhook/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [otherProgram("controller")] }] },
  },
  {
    files: ["kube-common/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: String.raw`^\.\./`,
              message: "kube-common/ is shared by both programs: it imports nothing outside itself.",
            },
          ],
        },
      ],
    },
  },
);
