/**
 * Runs the example programs as a runner would: a real child process with a hand-made environment
 * (the strategy contract of DESIGN.md §4, nothing else of ours leaks in), its stdout read as JSON
 * lines, every wait bounded, and every child killed by the end of its test.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as zmq from "zeromq";
import { parseOrder, type Order } from "../../src/protocol/orders/index.ts";

/** The repository root: the programs are started from there, as their layouts name them. */
export const REPO = resolve(import.meta.dirname, "..", "..");

/** The shipped sample dataset. */
export const SAMPLE = join(REPO, "examples", "data", "es-sample.csv");

/** Rejects with a message naming `what` when `promise` takes longer than `ms`. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A temporary directory (short, for ipc:// paths) removed by `remove()`. */
export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}

/** One structured stdout line of an example program. */
export type LogLine = Record<string, unknown> & { event: string };

/** How a program ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A started example program. */
export class Program {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: LogLine[] = [];
  stderr = "";
  readonly exited: Promise<Exit>;
  #partial = "";
  #waiters: (() => void)[] = [];

  constructor(command: string, args: readonly string[], env: Record<string, string>, cwd = REPO) {
    // Only PATH and HOME from us, as the runner gives (src/runner/process/README.md).
    const base: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir() };
    this.child = spawn(command, args, { cwd, env: { ...base, ...env }, stdio: "pipe" });
    this.child.stdout.setEncoding("utf8");
    this.child.stderr.setEncoding("utf8");
    this.child.stdout.on("data", (chunk: string) => this.#read(chunk));
    this.child.stderr.on("data", (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      this.child.once("close", (code, signal) => {
        this.#notify();
        resolve({ code, signal });
      }),
    );
  }

  /** Resolves with the first line (already read or still to come) that `match` accepts. */
  async line(match: (line: LogLine) => boolean, what: string, ms = 10_000): Promise<LogLine> {
    return within(
      ms,
      `${what}; stdout so far: ${JSON.stringify(this.lines.slice(-5))}; stderr: ${this.stderr}`,
      new Promise<LogLine>((resolve, reject) => {
        const check = (): void => {
          const found = this.lines.find(match);
          if (found !== undefined) return resolve(found);
          if (this.child.exitCode !== null || this.child.signalCode !== null)
            return reject(new Error(`the program ended before ${what}; stderr: ${this.stderr}`));
          this.#waiters.push(check);
        };
        check();
      }),
    );
  }

  /** SIGTERM, then the exit (bounded); SIGKILL if it does not end in time. */
  async stop(ms = 5_000): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    return this.wait(ms);
  }

  /** The exit, within `ms`; the child is killed if it is still running then. */
  async wait(ms = 10_000): Promise<Exit> {
    try {
      return await within(ms, `the program's exit; stderr: ${this.stderr}`, this.exited);
    } catch (err) {
      this.kill();
      throw err;
    }
  }

  /** SIGKILL if still running; for `finally` blocks. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }

  #read(chunk: string): void {
    this.#partial += chunk;
    const parts = this.#partial.split("\n");
    this.#partial = parts.pop() ?? "";
    for (const text of parts) {
      if (text.trim() === "") continue;
      try {
        this.lines.push(JSON.parse(text) as LogLine);
      } catch {
        this.lines.push({ event: "text", text });
      }
    }
    this.#notify();
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

/** Starts `node examples/programs/<file>` with `env`. */
export function startNode(file: string, args: readonly string[], env: Record<string, string>): Program {
  return new Program(process.execPath, [join("examples", "programs", file), ...args], env);
}

/**
 * The post office's side of one strategy's two local sockets, as the runner binds them: an XPUB
 * at its market-data endpoint and a ROUTER at its orders endpoint.
 */
export class FakePostOffice {
  readonly marketData = new zmq.XPublisher({ linger: 0 });
  readonly orders = new zmq.Router({ linger: 0 });
  readonly marketDataEndpoint: string;
  readonly ordersEndpoint: string;
  #seq = 0;

  constructor(dir: string) {
    this.marketDataEndpoint = `ipc://${join(dir, "market_data")}`;
    this.ordersEndpoint = `ipc://${join(dir, "orders")}`;
  }

  async bind(): Promise<void> {
    await this.marketData.bind(this.marketDataEndpoint);
    await this.orders.bind(this.ordersEndpoint);
  }

  /** Waits for the strategy's SUB to subscribe (an XPUB hears it), so no tick is lost after. */
  async subscribed(): Promise<string> {
    const [frame] = await within(10_000, "the strategy's subscription", this.marketData.receive());
    assert.equal(frame?.[0], 1, "a subscribe message");
    return frame.subarray(1).toString();
  }

  /** Publishes one tick of ESZ6 with bid `bid` and a quarter-point spread. */
  async tick(bid: number): Promise<void> {
    this.#seq += 1;
    const tick = { symbol: "ESZ6", seq: this.#seq, ts: Date.now(), bid, ask: bid + 0.25, last: bid, size: 1 };
    await this.marketData.send(["ESZ6", JSON.stringify(tick)]);
  }

  /** The next order frame, parsed by the runner's own order parser, and who sent it. */
  async nextOrder(): Promise<{ peer: Buffer; raw: Record<string, unknown>; order: Order }> {
    const frames = await within(5_000, "an order from the strategy", this.orders.receive());
    assert.equal(frames.length, 2, "the DEALER's order is one frame (after the ROUTER's peer id)");
    const [peer, frame] = frames as [Buffer, Buffer];
    const parsed = parseOrder(frame);
    assert.ok(parsed.ok, `the runner accepts the order: ${JSON.stringify(parsed)}`);
    return { peer, raw: JSON.parse(frame.toString()) as Record<string, unknown>, order: parsed.order };
  }

  async reply(peer: Buffer, reply: string | object): Promise<void> {
    await this.orders.send([peer, typeof reply === "string" ? reply : JSON.stringify(reply)]);
  }

  close(): void {
    this.marketData.close();
    this.orders.close();
  }
}
