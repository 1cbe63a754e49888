/** AdmissionReview bodies as kube-apiserver sends them, from test/fixtures/admission/. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../fixtures/admission/", import.meta.url));

export type Json = Record<string, unknown>;

/** A fresh copy of the fixture `name` (without .json) each call, so tests can change it. */
export function fixture(name: string): Json {
  return JSON.parse(readFileSync(`${dir}${name}.json`, "utf8")) as Json;
}
