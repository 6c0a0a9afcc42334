import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { datasetName, datasetNameProblem, parseDatasetName, parseManifest } from "./dataset-layout.ts";

describe("datasetName", () => {
  test("is <id>@<version> with the version escaped into one path segment", () => {
    assert.equal(datasetName("equities_l2", "2024-06"), "equities_l2@2024-06");
    assert.equal(datasetName("a.b-c", "v1/rc@2"), "a.b-c@v1%2Frc%402");
  });

  test("refuses ids that could escape the directory or clash with temporaries, and empty versions", () => {
    for (const id of ["", "..", ".tmp-x", "a/b", "a@b"]) {
      assert.throws(() => datasetName(id, "1"), { code: "invalid_argument" }, id);
    }
    assert.match(datasetNameProblem("a", "") ?? "", /invalid version ""/);
    assert.equal(datasetNameProblem("a", "x".repeat(300)) === undefined, false);
  });

  test("refuses a version ending in .json: its directory would be another version's manifest", () => {
    // "ticks@1.json" is the manifest of ticks version 1.
    assert.match(datasetNameProblem("ticks", "1.json") ?? "", /does not end in \.json/);
    assert.equal(datasetNameProblem("ticks", "1.json.gz"), undefined);
    assert.equal(
      datasetNameProblem("ticks.json", "1"),
      undefined,
      "an id may end so: the manifest adds to the version",
    );
  });

  test("parseDatasetName reverses it, and rejects what the cache could not have written", () => {
    assert.deepEqual(parseDatasetName("a.b-c@v1%2Frc%402"), { id: "a.b-c", version: "v1/rc@2" });
    for (const name of ["README", "@1", "a@", "a@%E0%A4%A", "a@v/1", ".tmp-a@1-x"]) {
      assert.equal(parseDatasetName(name), undefined, name);
    }
  });
});

describe("parseManifest", () => {
  test("accepts a complete manifest and nothing else", () => {
    const manifest = {
      id: "a",
      version: "1",
      source: "/d/a",
      bytes: 5,
      entry: "a.bin",
      loadedAt: "2024-06-01T00:00:00Z",
    };
    assert.deepEqual(parseManifest(JSON.stringify(manifest)), manifest);
    assert.equal(parseManifest('{"id":"a"'), undefined);
    assert.equal(parseManifest(JSON.stringify({ ...manifest, bytes: -1 })), undefined);
    assert.equal(parseManifest(""), undefined);
  });
});
