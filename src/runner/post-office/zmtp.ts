/**
 * ZMTP 3.0 (rfc.zeromq.org/spec/23), the wire protocol of ZeroMQ over TCP and ipc, as much of it
 * as the market-data relay (market-data-relay.ts) speaks: the greeting, the NULL mechanism's
 * READY command, PING/PONG, frames, and ZMTP 3.0 subscriptions. Pure functions and a frame
 * parser, tested byte by byte; the sockets are elsewhere.
 *
 * Why 3.0 and not 3.1: a libzmq peer (4.2 and later, pyzmq, zeromq.js) answers in the lower of
 * the two versions, and in 3.0 a SUB's subscriptions are ordinary one-frame messages whose first
 * byte is 1 (subscribe) or 0 (cancel), the same bytes a 3.1 peer would wrap in a SUBSCRIBE or
 * CANCEL command. Speaking 3.0 to both sides keeps one form of each.
 *
 *   greeting   0xFF, 8 octets of padding, 0x7F, major 3, minor 0, mechanism "NULL" padded with
 *              NUL to 20 octets, as-server (0 or 1), 31 octets of filler: 64 octets in all
 *   frame      flags (bit 0 MORE, bit 1 LONG, bit 2 COMMAND), size (1 octet, or 8 big-endian
 *              octets when LONG), body
 *   command    name size (1 octet), name, data
 *   READY      properties: name size (1 octet), name, value size (4 octets big-endian), value
 */

/** Bytes of a ZMTP 3.x greeting. */
export const GREETING_BYTES = 64;
/** Bytes of the greeting up to and including the major version, enough to refuse an old peer. */
export const GREETING_VERSION_BYTES = 11;

/** Frame flag: more frames of the same message follow. */
export const FLAG_MORE = 0x01;
/** Frame flag: the size is 8 octets. */
export const FLAG_LONG = 0x02;
/** Frame flag: the frame is a command, not part of a message. */
export const FLAG_COMMAND = 0x04;

/** The socket types the relay presents: a publisher to strategies, a subscriber to feeders. */
export type ZmtpSocketType = "PUB" | "SUB";

/** Our greeting: ZMTP 3.0 with the NULL mechanism. */
export function greeting(asServer: boolean): Buffer {
  const g = Buffer.alloc(GREETING_BYTES);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 0;
  g.write("NULL", 12, "latin1");
  g[32] = asServer ? 1 : 0;
  return g;
}

/**
 * Checks a peer's greeting, whole or (at {@link GREETING_VERSION_BYTES} octets and more) its
 * start; returns why it cannot be spoken to, or undefined when it can (or it is too short to tell).
 */
export function greetingProblem(g: Buffer): string | undefined {
  if (g.length >= 1 && g[0] !== 0xff) return "the peer does not speak ZMTP 3 (no greeting signature)";
  if (g.length >= 10 && ((g[9] as number) & 0x01) === 0)
    return "the peer does not speak ZMTP 3 (a ZMTP 1.0 identity instead of a greeting)";
  if (g.length >= GREETING_VERSION_BYTES && (g[10] as number) < 3)
    return `the peer speaks ZMTP ${g[10] === 1 ? "2.0" : "1.0"}; expected 3.0 or later`;
  if (g.length >= 32) {
    const mechanism = g.toString("latin1", 12, 32).replace(/\0+$/, "");
    if (mechanism !== "NULL") return `the peer asks for the ${mechanism} mechanism; expected NULL`;
  }
  return undefined;
}

/** One frame: its flags, and its body as a view of the bytes read. */
export function frame(body: Buffer, flags: number): Buffer {
  const long = body.length > 255;
  const head = long ? 9 : 2;
  const out = Buffer.allocUnsafe(head + body.length);
  out[0] = flags | (long ? FLAG_LONG : 0);
  if (long) out.writeBigUInt64BE(BigInt(body.length), 1);
  else out[1] = body.length;
  body.copy(out, head);
  return out;
}

/** A command frame: name and data. */
export function command(name: string, data: Buffer = Buffer.alloc(0)): Buffer {
  const nameBytes = Buffer.from(name, "latin1");
  return frame(Buffer.concat([Buffer.from([nameBytes.length]), nameBytes, data]), FLAG_COMMAND);
}

/** The NULL mechanism's READY command, announcing our socket type. */
export function ready(socketType: ZmtpSocketType): Buffer {
  const name = Buffer.from("Socket-Type", "latin1");
  const value = Buffer.from(socketType, "latin1");
  const size = Buffer.alloc(4);
  size.writeUInt32BE(value.length);
  return command("READY", Buffer.concat([Buffer.from([name.length]), name, size, value]));
}

/** A command's name and data, or undefined when its body is too short to hold its name. */
export function parseCommand(body: Buffer): { name: string; data: Buffer } | undefined {
  const size = body[0];
  if (size === undefined || body.length < 1 + size) return undefined;
  return { name: body.toString("latin1", 1, 1 + size), data: body.subarray(1 + size) };
}

/** READY's properties by lower-cased name (names are case-insensitive), or an error message. */
export function parseProperties(data: Buffer): Map<string, Buffer> | string {
  const props = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    const nameSize = data[pos] as number;
    if (pos + 1 + nameSize + 4 > data.length) return "a READY property is cut short";
    const name = data.toString("latin1", pos + 1, pos + 1 + nameSize).toLowerCase();
    const valueSize = data.readUInt32BE(pos + 1 + nameSize);
    const start = pos + 1 + nameSize + 4;
    if (start + valueSize > data.length) return `the READY property ${name} is cut short`;
    props.set(name, data.subarray(start, start + valueSize));
    pos = start + valueSize;
  }
  return props;
}

/** The socket types that may talk to each of ours (ZMTP's compatibility table). */
const PEERS: Record<ZmtpSocketType, readonly string[]> = { PUB: ["SUB", "XSUB"], SUB: ["PUB", "XPUB"] };

/** Checks a peer's READY data against our socket type; returns why it is refused, or undefined. */
export function readyProblem(data: Buffer, ours: ZmtpSocketType): string | undefined {
  const props = parseProperties(data);
  if (typeof props === "string") return props;
  const theirs = props.get("socket-type")?.toString("latin1");
  if (theirs === undefined) return "the peer's READY names no Socket-Type";
  if (!PEERS[ours].includes(theirs))
    return `a ${theirs} socket cannot talk to a ${ours}; expected ${PEERS[ours].join(" or ")}`;
  return undefined;
}

/** The PONG that answers a PING's data (a 2-octet TTL, then a context echoed back). */
export function pong(pingData: Buffer): Buffer {
  return command("PONG", pingData.subarray(2));
}

/** A ZMTP 3.0 subscription (or cancel) of `topic`: one message of one frame. */
export function subscription(subscribe: boolean, topic: Buffer): Buffer {
  const body = Buffer.allocUnsafe(1 + topic.length);
  body[0] = subscribe ? 1 : 0;
  topic.copy(body, 1);
  return frame(body, 0);
}

/** What the parser hands over for each complete frame: `buf[start, end)`, its body from `bodyStart`. */
export type FrameHandler = (
  flags: number,
  buf: Buffer,
  start: number,
  bodyStart: number,
  end: number,
) => void;

/**
 * Splits a byte stream into frames. Bytes of a frame not yet whole are kept until the rest
 * arrives; a whole frame is handed over as offsets into the buffer it lies in, without a copy
 * (the buffer of one `push`, or, for a frame that spanned chunks, the joined bytes).
 */
export class FrameParser {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Bytes needed before parsing can make progress (a header, or a header and its body). */
  #need = 2;

  /** `maxFrameBytes` bounds one frame's body; a larger one is a protocol error. */
  constructor(readonly maxFrameBytes: number) {}

  /** Bytes held back, waiting for the rest of their frame. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Reads `chunk` after what was held back and hands every whole frame to `onFrame`, in order.
   * Returns a protocol error (the stream cannot go on) or undefined.
   */
  push(chunk: Buffer, onFrame: FrameHandler): string | undefined {
    if (this.#pendingBytes + chunk.length < this.#need) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      return undefined;
    }
    const buf = this.#pending.length === 0 ? chunk : Buffer.concat([...this.#pending, chunk]);
    this.#pending = [];
    this.#pendingBytes = 0;
    const n = buf.length;
    let pos = 0;
    this.#need = 2;
    while (n - pos >= 2) {
      const flags = buf[pos] as number;
      if ((flags & ~(FLAG_MORE | FLAG_LONG | FLAG_COMMAND)) !== 0)
        return `a frame's flags are 0x${flags.toString(16)}: reserved bits are set`;
      let size: number;
      let head: number;
      if ((flags & FLAG_LONG) !== 0) {
        if (n - pos < 9) {
          this.#need = 9;
          break;
        }
        const high = buf.readUInt32BE(pos + 1);
        size = high * 0x1_0000_0000 + buf.readUInt32BE(pos + 5);
        head = 9;
      } else {
        size = buf[pos + 1] as number;
        head = 2;
      }
      if (size > this.maxFrameBytes)
        return `a frame of ${size} bytes is over the limit of ${this.maxFrameBytes} bytes`;
      const end = pos + head + size;
      if (end > n) {
        this.#need = head + size;
        break;
      }
      onFrame(flags, buf, pos, pos + head, end);
      pos = end;
    }
    if (pos < n) {
      this.#pending.push(pos === 0 ? buf : buf.subarray(pos));
      this.#pendingBytes = n - pos;
    }
    return undefined;
  }
}
