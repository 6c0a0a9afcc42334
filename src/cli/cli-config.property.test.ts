/**
 * The CLI's context file with arbitrary contents (issue 17): any bytes, any YAML, near-valid
 * contexts, an alias bomb, a 10 MB file. Loading either gives the contexts or refuses with a
 * HiveError `invalid_argument` naming the file; nothing else escapes, and the size is bounded.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { loadConfig, MAX_CONFIG_BYTES } from "./cli-config.ts";

const dir = mkdtempSync(join(tmpdir(), "hive-cli-config-prop-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, "config");

/** Loads `contents` as the context file: the config, or the HiveError it was refused with. */
function load(contents: string | Uint8Array): ReturnType<typeof loadConfig> | HiveError {
  writeFileSync(file, contents, { mode: 0o600 });
  try {
    return loadConfig(file);
  } catch (err) {
    assert.ok(err instanceof HiveError, `not a HiveError: ${String(err)}`);
    return err;
  }
}

function assertRefusedOrRead(result: ReturnType<typeof load>): void {
  if (result instanceof HiveError) {
    assert.equal(result.code, ErrorCode.InvalidArgument);
    assert.ok(result.message.startsWith(`${file}: `), result.message);
    return;
  }
  for (const c of result.contexts) {
    assert.equal(typeof c.name, "string");
    assert.equal(typeof c.server, "string");
  }
}

const anyValue = fc.jsonValue({ maxDepth: 3 });
const context = fc.record(
  {
    name: fc.oneof(fc.string({ maxLength: 10 }), anyValue),
    server: fc.oneof(fc.constantFrom("http://127.0.0.1:7071", "https://h:1"), anyValue),
    "ca-file": fc.oneof(fc.string({ maxLength: 10 }), anyValue),
    "token-file": fc.oneof(fc.string({ maxLength: 10 }), anyValue),
    token: fc.oneof(fc.string({ maxLength: 10 }), anyValue),
  },
  { requiredKeys: [] },
);

describe("property: the CLI context file", () => {
  test("any contents: the contexts, or invalid_argument naming the file", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.string({ maxLength: 300 }),
          anyValue.map((v) => stringify(v)),
          fc
            .record(
              {
                "current-context": fc.oneof(fc.string(), anyValue),
                contexts: fc.oneof(fc.array(context), anyValue),
              },
              { requiredKeys: [] },
            )
            .map((v) => stringify(v)),
        ),
        (contents) => assertRefusedOrRead(load(contents)),
      ),
      { numRuns: 200 },
    );
  });

  test("an alias bomb is refused invalid_argument (the yaml library threw its own error before)", () => {
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x]",
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
      "contexts: [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
    ].join("\n");
    const result = load(bomb);
    assert.ok(result instanceof HiveError);
    assert.match(result.message, /alias/i);
  });

  test("a 10 MB file is refused by its size, before it is parsed", () => {
    const result = load(`contexts: []\n#${"x".repeat(10 * 1024 * 1024)}\n`);
    assert.ok(result instanceof HiveError);
    assert.match(
      result.message,
      new RegExp(`expected a hive context file of at most ${MAX_CONFIG_BYTES} bytes`),
    );
  });
});
