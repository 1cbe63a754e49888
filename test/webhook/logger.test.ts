import { test } from "node:test";
import assert from "node:assert/strict";
import { captureLogs } from "../support/logs.ts";

test("the webhook's logger redacts Secret material even if an object were logged whole", () => {
  const logs = captureLogs();
  logs.logger.info(
    {
      request: {
        object: { kind: "Secret", data: { password: "aHVudGVyMg==" }, stringData: { password: "hunter2" } },
      },
      auth: { password: "hunter2" },
      req: { headers: { authorization: "Bearer abc.def" } },
    },
    "an object",
  );
  assert.doesNotMatch(logs.text(), /hunter2|aHVudGVyMg|abc\.def/);
  const [line] = logs.lines();
  assert.deepEqual(line?.auth, { password: "[REDACTED]" });
});
