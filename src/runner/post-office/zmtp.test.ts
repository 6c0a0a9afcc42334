import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  command,
  FLAG_COMMAND,
  FLAG_LONG,
  FLAG_MORE,
  frame,
  FrameParser,
  GREETING_BYTES,
  greeting,
  greetingProblem,
  parseCommand,
  parseProperties,
  pong,
  ready,
  readyProblem,
  subscription,
} from "./zmtp.ts";

/** Every frame a parser hands over, as [flags, body]. */
function collect(
  parser: FrameParser,
  chunks: readonly Buffer[],
): { frames: [number, string][]; error?: string } {
  const frames: [number, string][] = [];
  for (const chunk of chunks) {
    const error = parser.push(chunk, (flags, buf, _start, bodyStart, end) =>
      frames.push([flags, buf.toString("latin1", bodyStart, end)]),
    );
    if (error !== undefined) return { frames, error };
  }
  return { frames };
}

describe("ZMTP 3.0 codec", () => {
  test("our greeting is 64 octets: signature, version 3.0, NULL, as-server", () => {
    const g = greeting(true);
    assert.equal(g.length, GREETING_BYTES);
    assert.equal(g[0], 0xff);
    assert.equal(g[9], 0x7f);
    assert.deepEqual([g[10], g[11]], [3, 0]);
    assert.equal(g.toString("latin1", 12, 16), "NULL");
    assert.ok(g.subarray(16, 32).every((b) => b === 0));
    assert.equal(g[32], 1);
    assert.equal(greeting(false)[32], 0);
    assert.equal(greetingProblem(g), undefined);
  });

  test("refuses peers it cannot speak to as soon as their greeting tells", () => {
    assert.match(greetingProblem(Buffer.from([0x01, 0x00])) ?? "", /no greeting signature/);
    // A ZMTP 1.0 identity: 0xFF length ... and bit 0 of octet 10 clear.
    const v1 = Buffer.alloc(10, 0);
    v1[0] = 0xff;
    assert.match(greetingProblem(v1) ?? "", /ZMTP 1\.0 identity/);
    const v2 = greeting(false).subarray(0, 11);
    v2[10] = 1;
    assert.match(greetingProblem(v2) ?? "", /ZMTP 2\.0; expected 3\.0/);
    const curve = greeting(false);
    curve.fill(0, 12, 32);
    curve.write("CURVE", 12, "latin1");
    assert.match(greetingProblem(curve) ?? "", /CURVE mechanism; expected NULL/);
    // Too short to tell: no verdict yet.
    assert.equal(greetingProblem(greeting(false).subarray(0, 5)), undefined);
    // A 3.1 peer is fine (it will answer in 3.0).
    const v31 = greeting(false);
    v31[11] = 1;
    assert.equal(greetingProblem(v31), undefined);
  });

  test("frames: short and long sizes, flags kept", () => {
    assert.deepEqual([...frame(Buffer.from("ab"), FLAG_MORE)], [FLAG_MORE, 2, 0x61, 0x62]);
    const long = frame(Buffer.alloc(300, 7), 0);
    assert.equal(long[0], FLAG_LONG);
    assert.equal(long.readBigUInt64BE(1), 300n);
    assert.equal(long.length, 9 + 300);
    assert.deepEqual([...frame(Buffer.alloc(255), 0).subarray(0, 2)], [0, 255]);
  });

  test("commands: READY with Socket-Type, PONG echoes the PING's context, subscriptions are messages", () => {
    const r = ready("PUB");
    assert.equal(r[0], FLAG_COMMAND);
    const cmd = parseCommand(r.subarray(2));
    assert.equal(cmd?.name, "READY");
    const props = parseProperties(cmd?.data ?? Buffer.alloc(0));
    assert.ok(props instanceof Map);
    assert.equal(props.get("socket-type")?.toString(), "PUB");
    assert.equal(readyProblem(cmd?.data ?? Buffer.alloc(0), "SUB"), undefined, "a SUB takes a PUB");
    assert.match(
      readyProblem(cmd?.data ?? Buffer.alloc(0), "PUB") ?? "",
      /a PUB socket cannot talk to a PUB/,
    );
    assert.match(readyProblem(Buffer.alloc(0), "PUB") ?? "", /no Socket-Type/);
    assert.match(readyProblem(Buffer.from([11, 0x41]), "PUB") ?? "", /cut short/);

    const p = pong(Buffer.from([0, 10, 0x63, 0x74, 0x78]));
    assert.deepEqual(parseCommand(p.subarray(2)), { name: "PONG", data: Buffer.from("ctx") });
    assert.equal(parseCommand(Buffer.from([9, 0x41])), undefined, "a name longer than the body");
    assert.deepEqual(command("PING").subarray(2).toString("latin1"), "\u0004PING");

    assert.deepEqual([...subscription(true, Buffer.from("ES"))], [0, 3, 1, 0x45, 0x53]);
    assert.deepEqual([...subscription(false, Buffer.alloc(0))], [0, 1, 0]);
  });

  test("the parser hands over the same frames however the stream is cut", () => {
    const bodies = ["", "a", "x".repeat(255), "y".repeat(256), "z".repeat(70_000)];
    const stream = Buffer.concat(bodies.map((b, i) => frame(Buffer.from(b), i % 2 === 0 ? FLAG_MORE : 0)));
    const expected = bodies.map((b, i): [number, string] => [
      (i % 2 === 0 ? FLAG_MORE : 0) | (b.length > 255 ? FLAG_LONG : 0),
      b,
    ]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks = [0, ...points].map((from, i) => stream.subarray(from, points[i] ?? stream.length));
        const parser = new FrameParser(1 << 20);
        const { frames, error } = collect(parser, chunks);
        assert.equal(error, undefined);
        assert.deepEqual(frames, expected);
        assert.equal(parser.pendingBytes, 0);
      }),
      { numRuns: 300 },
    );
    // Byte by byte.
    const parser = new FrameParser(1 << 20);
    const small = Buffer.concat([frame(Buffer.from("hi"), FLAG_MORE), frame(Buffer.alloc(300, 1), 0)]);
    const { frames } = collect(
      parser,
      [...small].map((b) => Buffer.from([b])),
    );
    assert.deepEqual(
      frames.map(([flags, body]) => [flags, body.length]),
      [
        [FLAG_MORE, 2],
        [FLAG_LONG, 300],
      ],
    );
  });

  test("the parser refuses reserved flags and frames over its limit, and holds back a frame cut short", () => {
    assert.match(collect(new FrameParser(10), [Buffer.from([0x08, 0])]).error ?? "", /reserved bits/);
    assert.match(
      collect(new FrameParser(10), [frame(Buffer.alloc(11), 0)]).error ?? "",
      /11 bytes is over the limit of 10/,
    );
    const parser = new FrameParser(100);
    const { frames } = collect(parser, [Buffer.from([0, 5, 1, 2])]);
    assert.deepEqual(frames, []);
    assert.equal(parser.pendingBytes, 4);
  });
});
