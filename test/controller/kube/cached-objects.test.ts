import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeenVersions } from "../../../controller/kube/cached-objects.ts";

const at = (resourceVersion: string) => ({ metadata: { resourceVersion } });

describe("SeenVersions", () => {
  it("uses the cached copy of an object the controller never wrote", () => {
    assert.equal(new SeenVersions().current("statefulsets/ns/a", at("5")), true);
    assert.equal(new SeenVersions().current("statefulsets/ns/a", undefined), true);
  });

  it("refuses the cached copy until it shows the version the controller wrote, then forgets the write", () => {
    const seen = new SeenVersions();
    seen.saw("redisclusters/ns/a", at("7"));
    assert.equal(seen.current("redisclusters/ns/a", at("6")), false, "the cache is behind");
    assert.equal(seen.current("redisclusters/ns/a", undefined), false, "the cache has not seen it created");
    assert.equal(seen.current("redisclusters/ns/a", at("7")), true, "the cache caught up");
    assert.equal(seen.current("redisclusters/ns/a", at("8")), true, "a later change, through the watch");
  });

  it("forgets a write as soon as the informer's cache takes that version, so a newer one is used", () => {
    const seen = new SeenVersions();
    seen.saw("redisclusters/ns/a", at("7"));
    seen.cached("redisclusters/ns/a", at("6"));
    assert.equal(seen.current("redisclusters/ns/a", at("6")), false, "an older version taken: still behind");
    seen.cached("redisclusters/ns/a", at("7"));
    // Someone else's change (a promotion requested) reaches the cache before the next pass looks.
    assert.equal(
      seen.current("redisclusters/ns/a", at("9")),
      true,
      "newer than the write, through the watch",
    );
  });

  it("does not remember a write whose version the cache took before its answer came", () => {
    const seen = new SeenVersions();
    seen.saw("redisclusters/ns/a", at("7"), at("7"));
    assert.equal(seen.current("redisclusters/ns/a", at("9")), true);
    seen.saw("redisclusters/ns/a", at("10"), at("9"));
    assert.equal(seen.current("redisclusters/ns/a", at("9")), false, "the cache has not taken it yet");
  });

  it("forgets an object read afresh as gone", () => {
    const seen = new SeenVersions();
    seen.saw("services/ns/a", at("3"));
    seen.saw("services/ns/a", undefined);
    assert.equal(seen.current("services/ns/a", undefined), true);
  });
});
