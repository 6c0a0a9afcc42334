import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import * as zmq from "zeromq";
import { HiveError } from "./hive-error.ts";
import { isZ85Key, Z85_KEY, z85Decode, z85Encode } from "./z85.ts";

describe("z85", () => {
  test("the RFC 32 test vector, both ways", () => {
    const bytes = Uint8Array.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    assert.equal(z85Encode(bytes), "HelloWorld");
    assert.deepEqual(z85Decode("HelloWorld"), bytes);
  });

  test("refuses text that is not Z85", () => {
    assert.throws(() => z85Decode("#####"), /above 2\^32/);
    assert.throws(() => z85Decode("abc"), /multiple of 5/);
    assert.throws(() => z85Decode('Hell"'), /not a Z85 character/);
  });
});

describe("z85 on arbitrary input", () => {
  test("any bytes (a multiple of 4) come back as they went, as text of the Z85 alphabet", () => {
    const words = fc
      .integer({ min: 0, max: 16 })
      .chain((n) => fc.uint8Array({ minLength: 4 * n, maxLength: 4 * n }));
    fc.assert(
      fc.property(words, (bytes) => {
        const text = z85Encode(bytes);
        assert.equal(text.length, (bytes.length / 4) * 5);
        assert.match(text, /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]*$/);
        assert.deepEqual(z85Decode(text), bytes);
      }),
      { numRuns: 2_000 },
    );
  });

  test("any text decodes, or is refused with a HiveError (a key file or a flag may hold anything)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        try {
          assert.equal(z85Decode(text).length, (text.length / 5) * 4);
        } catch (err) {
          assert.ok(err instanceof HiveError, String(err));
        }
      }),
      { numRuns: 2_000 },
    );
  });

  test("libzmq's own keys are 40-character Z85 that decode to 32 bytes and encode back", () => {
    for (let i = 0; i < 20; i++) {
      const { publicKey, secretKey } = zmq.curveKeyPair();
      for (const key of [publicKey, secretKey]) {
        assert.ok(isZ85Key(key));
        assert.match(key, Z85_KEY);
        assert.equal(z85Decode(key).length, 32);
        assert.equal(z85Encode(z85Decode(key)), key);
      }
    }
  });
});
