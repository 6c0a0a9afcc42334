/**
 * RelayLink against a raw ZMTP publisher written here byte by byte (net.Server on loopback), so
 * the test decides where the stream is cut: frames split across reads, a message spanning reads,
 * a PING between two frames of one message. Whatever the cuts, the link must hand over exactly
 * the publisher's messages, whole, in order, without the commands.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import type { PostOfficeLog } from "./post-office-log.ts";
import { waitFor } from "./testing/post-office-kit.ts";
import { RelayLink, type RelayLinkOptions } from "./relay-link.ts";
import {
  command,
  FLAG_MORE,
  frame,
  FrameParser,
  GREETING_BYTES,
  greeting,
  parseCommand,
  ready,
} from "./zmtp.ts";

const log: PostOfficeLog = { info() {}, warn() {}, error() {} };

/** A publisher that speaks ZMTP by hand: it greets, sends READY as a PUB, records what the link sends. */
class RawPublisher {
  readonly server: Server;
  socket: Socket | undefined;
  readonly fromLink: { flags: number; body: Buffer }[] = [];
  #parser = new FrameParser(1 << 20);
  #greeted = 0;

  /** Connections accepted so far. */
  connections = 0;

  /** `onConnect` runs once each connection is greeted (a test's misbehaving publisher). */
  constructor(onConnect?: (socket: Socket) => void) {
    this.server = createServer((socket) => {
      this.socket = socket;
      this.connections += 1;
      socket.setNoDelay(true);
      socket.write(Buffer.concat([greeting(true), ready("PUB")]));
      onConnect?.(socket);
      socket.on("data", (chunk: Buffer) => {
        if (this.#greeted < GREETING_BYTES) {
          const take = Math.min(GREETING_BYTES - this.#greeted, chunk.length);
          this.#greeted += take;
          chunk = chunk.subarray(take);
        }
        this.#parser.push(chunk, (flags, buf, _start, bodyStart, end) =>
          this.fromLink.push({ flags, body: Buffer.from(buf.subarray(bodyStart, end)) }),
        );
      });
      socket.on("error", () => undefined);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", () => resolve()));
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("no address");
    return `tcp://127.0.0.1:${address.port}`;
  }

  /** Writes `bytes` cut at `cuts` (offsets), pausing between pieces so that reads are likely cut there too. */
  async writeCut(bytes: Buffer, cuts: readonly number[]): Promise<void> {
    const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
    let from = 0;
    for (const to of [...points, bytes.length]) {
      this.socket?.write(bytes.subarray(from, to));
      from = to;
      await sleep(1);
    }
  }

  close(): Promise<void> {
    this.socket?.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A link to `remote` with limits of 1 MiB, no topics and nothing done with what it hands over, but for `over`. */
function linkTo(remote: string, over: Partial<RelayLinkOptions>): RelayLink {
  return new RelayLink({
    remote,
    label: "test",
    log,
    maxFrameBytes: 1 << 20,
    maxMessageBytes: 1 << 20,
    handshakeTimeoutMs: 5000,
    topics: () => [],
    deliver: () => undefined,
    onOpenChange: () => undefined,
    ...over,
  });
}

describe("RelayLink: messages whole, however the stream is cut", () => {
  const publishers: RawPublisher[] = [];
  after(async () => {
    for (const p of publishers) await p.close();
  });

  /** A raw publisher listening, kept for the clean-up. */
  async function publisher(onConnect?: (socket: Socket) => void) {
    const pub = new RawPublisher(onConnect);
    publishers.push(pub);
    return { pub, remote: await pub.listen() };
  }

  async function linked() {
    const { pub, remote } = await publisher();
    const delivered: { bytes: Buffer; messages: number; bodyBytes: number }[] = [];
    let open = false;
    const link = linkTo(remote, {
      topics: () => [Buffer.from("ES")],
      deliver: (views, messages, bodyBytes) =>
        delivered.push({ bytes: Buffer.concat(views), messages, bodyBytes }),
      onOpenChange: (o) => (open = o),
    });
    await waitFor(() => open && pub.fromLink.length > 0, "the link open and subscribed");
    return { pub, link, delivered };
  }

  test("subscribes on open with a ZMTP 3.0 subscription message", async () => {
    const { pub, link } = await linked();
    link.stop();
    const sub = pub.fromLink.find((f) => (f.flags & 0x04) === 0);
    assert.deepEqual([...(sub?.body ?? [])], [1, 0x45, 0x53], "0x01 then the topic ES");
  });

  test("multipart messages cut anywhere, with a PING between two frames of one, arrive whole and in order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 4 }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 6 }),
        async (shapes, cuts) => {
          const { pub, link, delivered } = await linked();
          try {
            const messages = shapes.map((sizes, m) =>
              sizes.map((size, f) =>
                frame(Buffer.alloc(size, (m * 7 + f) % 251), f < sizes.length - 1 ? FLAG_MORE : 0),
              ),
            );
            // A PING after the first frame of the first multipart message, as a heartbeat timer may put it.
            const ping = command("PING", Buffer.from([0, 0, 0x63]));
            const wire = Buffer.concat(
              messages.flatMap((frames, m) =>
                m === 0 && frames.length > 1 ? [frames[0] as Buffer, ping, ...frames.slice(1)] : frames,
              ),
            );
            const expected = Buffer.concat(messages.flat());
            const bodyBytes = shapes.flat().reduce((a, b) => a + b, 0);
            await pub.writeCut(wire, cuts);
            await waitFor(
              () => delivered.reduce((n, d) => n + d.messages, 0) === messages.length,
              `${messages.length} messages`,
            );
            assert.ok(
              Buffer.concat(delivered.map((d) => d.bytes)).equals(expected),
              "the same bytes, commands out",
            );
            assert.equal(
              delivered.reduce((n, d) => n + d.bodyBytes, 0),
              bodyBytes,
            );
            // Each hand-over is whole messages: parsing it alone ends on a last frame.
            for (const d of delivered) {
              const parser = new FrameParser(1 << 20);
              let lastFlags = 0;
              let count = 0;
              parser.push(d.bytes, (flags) => {
                lastFlags = flags;
                if ((flags & FLAG_MORE) === 0) count++;
              });
              assert.equal(parser.pendingBytes, 0);
              assert.equal(lastFlags & FLAG_MORE, 0);
              assert.equal(count, d.messages);
            }
            if (shapes[0] !== undefined && shapes[0].length > 1) {
              await waitFor(
                () => pub.fromLink.some((f) => parseCommand(f.body)?.name === "PONG"),
                "the PONG",
              );
              const pong = pub.fromLink.find((f) => parseCommand(f.body)?.name === "PONG");
              assert.equal(
                parseCommand(pong?.body ?? Buffer.alloc(0))?.data.toString(),
                "c",
                "the context echoed",
              );
            }
          } finally {
            link.stop();
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  test("a message over the limit closes the link, which then reconnects", async () => {
    const { pub, remote } = await publisher();
    const opens: boolean[] = [];
    const link = linkTo(remote, {
      maxMessageBytes: 100,
      deliver: () => assert.fail("nothing over the limit is delivered"),
      onOpenChange: (o) => opens.push(o),
    });
    try {
      await waitFor(() => opens.includes(true), "open");
      const first = pub.socket;
      await pub.writeCut(Buffer.concat([frame(Buffer.alloc(60), FLAG_MORE), frame(Buffer.alloc(60), 0)]), []);
      await waitFor(() => opens.filter((o) => o).length === 2, "closed and open again");
      assert.notEqual(pub.socket, first, "a new connection");
      assert.deepEqual(opens, [true, false, true]);
    } finally {
      link.stop();
    }
  });

  test("a PING's TTL is kept: a publisher silent past it is dropped and dialled again", async () => {
    // PING with a TTL of 3 tenths of a second, then silence with the connection up (a frozen feeder).
    const { pub, remote } = await publisher((socket) => socket.write(command("PING", Buffer.from([0, 3]))));
    const opens: boolean[] = [];
    const link = linkTo(remote, { onOpenChange: (o) => opens.push(o) });
    try {
      await waitFor(() => opens.length >= 3, "dropped after the TTL and open again", 3000);
      assert.deepEqual(opens.slice(0, 3), [true, false, true]);
      assert.ok(pub.connections >= 2);
    } finally {
      link.stop();
    }
  });

  test("a publisher that breaks every connection is dialled with a growing wait, not every 10 ms", async () => {
    // Every connection gets a message over the link's limit, which closes it at once.
    const { pub, remote } = await publisher((socket) =>
      socket.write(Buffer.concat([frame(Buffer.alloc(60), FLAG_MORE), frame(Buffer.alloc(60), 0)])),
    );
    const link = linkTo(remote, {
      maxMessageBytes: 100,
      deliver: () => assert.fail("nothing over the limit is delivered"),
    });
    try {
      await sleep(1500);
      // Waits drawn below 10, 20, 40, ... 640, 1000 ms: about 10 dials in 1.5 s; waits that started
      // over at every open would dial about a hundred times.
      assert.ok(pub.connections >= 3 && pub.connections <= 20, `${pub.connections} connections in 1.5 s`);
    } finally {
      link.stop();
    }
  });
});
