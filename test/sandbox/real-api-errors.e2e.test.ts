/**
 * The sandbox API server answers like the real one: every fixture of test/fixtures/real-apiserver/ (what
 * kube-apiserver 1.37.2 answered, captured by hack/k8s/capture-api-errors.ts) is replayed against a sandbox —
 * its setup requests, then the request — and the sandbox's status code, Warning headers and body must equal
 * the captured ones. A difference is a bug in the sandbox.
 *
 * Normalized, because it must differ or cannot be reproduced:
 * - an object's uid, resourceVersion and creationTimestamp (assigned by each server);
 * - an object's managedFields (the sandbox does not track field managers);
 * - the order of OpenAPI schema errors next to each other in a 422's causes (and so in its message): the
 *   real server walks an object's properties in Go map order, which changes from one request to the next
 *   (sent 30 times, several-schema-errors got 6 to 8 different orders in each of three captures; the
 *   capture logs the count). Everything else about the order is compared: metadata errors first, then
 *   schema errors, then list-type errors, then the CEL rules' errors or the error saying they were not
 *   checked. Each message must still be the causes joined the API server's way.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type { ApiFixture, CapturedRequest, CapturedResponse } from "../../hack/k8s/capture-api-errors.ts";
import { JsonClient } from "../../hack/k8s/json-client.ts";
import { startSandbox, type TestSandbox } from "../../hack/sandbox/testing.ts";

/** 127.64.0.0/16: this file's sandbox. */
const RANGE = 64;
const DIR = new URL("../fixtures/real-apiserver/", import.meta.url);

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const fixtures = readdirSync(DIR)
  .filter((file) => file.endsWith(".json"))
  .sort()
  .map((file) => ({
    name: file.replace(/\.json$/, ""),
    fixture: JSON.parse(readFileSync(new URL(file, DIR), "utf8")) as ApiFixture,
  }));

let sb: TestSandbox;

before(async () => {
  sb = await startSandbox({ range: RANGE });
});
after(() => sb?.stop());

/** One request to the sandbox over HTTPS as its admin; any status code is an answer. */
function send(request: CapturedRequest): Promise<CapturedResponse> {
  return new JsonClient(sb.kubeConfig).exchange(
    request.method,
    request.path,
    request.body,
    request.contentType,
  );
}

/** The request with the resourceVersion this server answered to the setup step it names. */
function withResourceVersion(request: CapturedRequest, setupBodies: readonly unknown[]): CapturedRequest {
  if (request.resourceVersionFrom === undefined) return request;
  const from = setupBodies[request.resourceVersionFrom];
  const resourceVersion =
    isObject(from) && isObject(from.metadata) ? from.metadata.resourceVersion : undefined;
  assert.equal(
    typeof resourceVersion,
    "string",
    `setup step ${request.resourceVersionFrom} has a resourceVersion`,
  );
  const body = structuredClone(request.body) as { metadata: Json };
  body.metadata.resourceVersion = resourceVersion;
  return { ...request, body };
}

interface Cause {
  reason: string;
  message: string;
  field: string;
}

/** A cause kube-openapi's schema validator raised (its messages), as opposed to metadata, list or CEL errors. */
const fromSchemaValidator = ({ message }: Cause): boolean =>
  / in body /.test(message) ||
  message === "Required value" ||
  message.startsWith("Unsupported value: ") ||
  message.startsWith("Too long: ") ||
  message.startsWith("Too many: ") ||
  message.endsWith("must validate at least one schema (anyOf)") ||
  message.startsWith('Invalid value: "": Checked value must be of type ');

/** Causes with each run of adjacent schema-validator causes sorted (their order is Go's map order). */
function sortSchemaRuns(causes: readonly Cause[]): Cause[] {
  const out: Cause[] = [];
  let run: Cause[] = [];
  const flush = () => {
    out.push(...run.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
    run = [];
  };
  for (const cause of causes) {
    if (fromSchemaValidator(cause)) {
      run.push(cause);
    } else {
      flush();
      out.push(cause);
    }
  }
  flush();
  return out;
}

/** `<kind> "<name>" is invalid: ` + the causes as the API server joins them (one, or `[a, b]`, repeats once). */
function invalidMessage(prefix: string, causes: readonly Cause[]): string {
  const lines = [...new Set(causes.map((c) => `${c.field}: ${c.message}`))];
  return `${prefix}: ${lines.length === 1 ? lines[0] : `[${lines.join(", ")}]`}`;
}

/** The body with what must differ between two servers normalized (see the file's header). */
function normalize(body: unknown, who: string): unknown {
  if (!isObject(body)) return body;
  if (body.kind === "Status" && body.reason === "Invalid" && isObject(body.details)) {
    const causes = (body.details.causes ?? []) as Cause[];
    const message = String(body.message);
    const prefix = message.slice(0, message.indexOf(" is invalid") + " is invalid".length);
    if (causes.length > 0)
      assert.equal(message, invalidMessage(prefix, causes), `${who}: the message joins the causes`);
    const sorted = sortSchemaRuns(causes);
    return {
      ...body,
      message: causes.length > 0 ? invalidMessage(prefix, sorted) : message,
      details: { ...body.details, causes: sorted },
    };
  }
  if (isObject(body.metadata) && body.kind !== "Status") {
    const metadata: Json = { ...body.metadata };
    for (const key of ["uid", "resourceVersion", "creationTimestamp"])
      if (key in metadata) metadata[key] = `<${key}>`;
    delete metadata.managedFields;
    return { ...body, metadata };
  }
  return body;
}

describe("the sandbox answers each captured request like kube-apiserver 1.37.2", () => {
  for (const { name, fixture } of fixtures) {
    test(`${name}: ${fixture.description}`, async () => {
      const answers: unknown[] = [];
      for (const step of fixture.setup) {
        const answer = await send(withResourceVersion(step, answers));
        const ok = answer.code < 300 || (answer.code === 409 && step.mayExist === true);
        assert.ok(ok, `setup ${step.method} ${step.path}: ${answer.code} ${JSON.stringify(answer.body)}`);
        answers.push(answer.body);
      }
      const response = await send(withResourceVersion(fixture.request, answers));
      for (const step of fixture.teardown) await send(step);

      assert.equal(response.code, fixture.response.code, JSON.stringify(response.body));
      assert.deepEqual(response.warnings, fixture.response.warnings);
      assert.deepEqual(
        normalize(response.body, "sandbox"),
        normalize(fixture.response.body, "real API server"),
      );
    });
  }
});
