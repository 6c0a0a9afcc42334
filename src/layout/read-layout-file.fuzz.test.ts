/**
 * Fuzzing the layout loader (issue 17, item 7): a layout file with arbitrary contents — bytes,
 * any YAML, and the example layout with its values replaced at random — is read by readLayoutFile.
 * Each property: a layout comes back (and validates clean), or a ValidationError (a HiveError
 * `invalid_argument`) whose issues name the file; nothing else escapes.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { parse, stringify } from "yaml";
import { ErrorCode } from "../core/hive-error.ts";
import { ValidationError } from "../domain/index.ts";
import { readLayoutFile } from "./read-layout-file.ts";
import { validateLayout } from "./validate-layout.ts";

const dir = mkdtempSync(join(tmpdir(), "hive-layout-fuzz-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, "layout.yaml");
const EXAMPLE = parse(readFileSync("examples/layouts/live-trading.yaml", "utf8")) as unknown;

/** `value` with the leaf or subtree at pick % (number of nodes) replaced by `by`. */
function replaceAt(value: unknown, pick: number, by: unknown): unknown {
  const nodes: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        nodes.push({ parent: v, key: i });
        walk(x);
      });
    } else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        nodes.push({ parent: v as Record<string, unknown>, key: k });
        walk(x);
      }
    }
  };
  const copy = structuredClone(value);
  walk(copy);
  const node = nodes[pick % Math.max(1, nodes.length)];
  if (node !== undefined) (node.parent as Record<string | number, unknown>)[node.key] = by;
  return copy;
}

function readOrRefuse(contents: string | Uint8Array): void {
  writeFileSync(file, contents);
  try {
    const layout = readLayoutFile(file);
    assert.deepEqual(validateLayout(layout), []);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `not a ValidationError: ${String(err)}`);
    assert.equal(err.code, ErrorCode.InvalidArgument);
    assert.ok(err.message.includes("layout.yaml"), err.message.slice(0, 300));
  }
}

describe("fuzz: the layout loader", () => {
  test("any bytes or YAML: a valid layout, or a ValidationError naming the file", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.string({ maxLength: 300 }),
          fc.jsonValue({ maxDepth: 3 }).map((v) => stringify(v)),
        ),
        readOrRefuse,
      ),
      { numRuns: 150 },
    );
  });

  test("found by fuzzing: an alias before its anchor (`*x`) is a ValidationError (it was the yaml library's ReferenceError)", () => {
    writeFileSync(file, "name: *x\n");
    assert.throws(
      () => readLayoutFile(file),
      (err: unknown) => err instanceof ValidationError && /alias/i.test(err.message),
    );
  });

  test("the example layout with one value replaced by anything: valid, or a ValidationError naming the file", () => {
    fc.assert(
      fc.property(fc.nat(), fc.jsonValue({ maxDepth: 2 }), (pick, by) =>
        readOrRefuse(stringify(replaceAt(EXAMPLE, pick, by))),
      ),
      { numRuns: 200 },
    );
  });
});
