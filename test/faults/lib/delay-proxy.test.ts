/**
 * The delay proxy on loopback: holds keep order, a later connection overtakes a held one, cuts
 * close both ends, buffers stay bounded, and close() leaves nothing open.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { DelayProxy } from "./delay-proxy.ts";

/** Every "|"-terminated message the server received, in arrival order. */
const arrivals: string[] = [];
let server: Server;
let port = 0;

before(async () => {
  server = createServer((socket) => {
    socket.on("data", (d: Buffer) => {
      for (const msg of d.toString().split("|").filter(Boolean)) arrivals.push(msg);
      socket.write(d); // echo
    });
    socket.on("error", () => undefined);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface Client {
  readonly socket: Socket;
  echoed: string;
  closed: boolean;
}

async function client(proxy: DelayProxy): Promise<Client> {
  const socket = connect({ host: proxy.host, port: proxy.port });
  const c: Client = { socket, echoed: "", closed: false };
  socket.on("data", (d: Buffer) => (c.echoed += d.toString()));
  socket.on("close", () => (c.closed = true));
  socket.on("error", () => undefined);
  await once(socket, "connect");
  return c;
}

async function withProxy(
  body: (proxy: DelayProxy) => Promise<void>,
  maxBufferedBytes?: number,
): Promise<void> {
  arrivals.length = 0;
  const proxy = await DelayProxy.start({ target: { host: "127.0.0.1", port }, maxBufferedBytes });
  try {
    await body(proxy);
  } finally {
    await proxy.close();
  }
}

test("hold() queues bytes both ways and release() delivers them in order", async () => {
  await withProxy(async (proxy) => {
    const a = await client(proxy);
    a.socket.write("a1|");
    await until("a1 echoed", () => a.echoed === "a1|");
    proxy.hold();
    for (const m of ["a2|", "a3|", "a4|"]) a.socket.write(m);
    await until("bytes queued", () => proxy.connections()[0]?.heldBytes.toServer === 9);
    await sleep(100);
    assert.deepEqual(arrivals, ["a1"]);
    proxy.release("toServer");
    await until("a2..a4 at the server", () => arrivals.length === 4);
    assert.deepEqual(arrivals, ["a1", "a2", "a3", "a4"]);
    // The echo is still held on the way back.
    await until("echo queued", () => proxy.connections()[0]?.heldBytes.toClient === 9);
    assert.equal(a.echoed, "a1|");
    proxy.release();
    await until("echo delivered", () => a.echoed === "a1|a2|a3|a4|");
    assert.deepEqual(proxy.bytes, { toServer: 12, toClient: 12 });
    assert.deepEqual(proxy.connections()[0]?.bytes, { toServer: 12, toClient: 12 });
  });
});

test("a later connection overtakes a held one: the old message arrives after the new", async () => {
  await withProxy(async (proxy) => {
    const old = await client(proxy);
    await proxy.waitForConnections(1, 5_000);
    const [held] = proxy.holdExisting("toServer");
    old.socket.write("activate-epoch-1|");
    await until("old message held", () => (held?.heldBytes.toServer ?? 0) > 0);
    const young = await client(proxy);
    young.socket.write("activate-epoch-2|");
    await until("new message at the server", () => arrivals.length === 1);
    held?.release();
    await until("old message at the server", () => arrivals.length === 2);
    assert.deepEqual(arrivals, ["activate-epoch-2", "activate-epoch-1"]);
    old.socket.destroy();
    young.socket.destroy();
  });
});

test("a queued FIN waits behind held bytes", async () => {
  await withProxy(async (proxy) => {
    const a = await client(proxy);
    proxy.hold("toServer");
    a.socket.end("last|");
    await sleep(100);
    assert.deepEqual(arrivals, []);
    proxy.release();
    await until("last at the server", () => arrivals.length === 1);
    await until("connection closed", () => a.closed);
  });
});

test("cutConnections() closes both ends and the proxy keeps accepting", async () => {
  await withProxy(async (proxy) => {
    const a = await client(proxy);
    proxy.hold();
    a.socket.write("lost|");
    await until("queued", () => (proxy.connections()[0]?.heldBytes.toServer ?? 0) > 0);
    proxy.cutConnections();
    await until("client closed", () => a.closed);
    await proxy.connections()[0]?.closed;
    assert.equal(proxy.connections()[0]?.isClosed, true);
    proxy.release();
    const b = await client(proxy);
    b.socket.write("b|");
    await until("b echoed", () => b.echoed === "b|");
    assert.deepEqual(arrivals, ["b"]);
    b.socket.destroy();
  });
});

test("a held queue is bounded: the source is paused and nothing is lost or reordered", async () => {
  const limit = 64 * 1024;
  await withProxy(async (proxy) => {
    const a = await client(proxy);
    proxy.hold("toServer");
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    a.socket.write(payload);
    await until("queue at the bound", () => (proxy.connections()[0]?.heldBytes.toServer ?? 0) >= limit);
    await sleep(100);
    // One socket read past the bound at most (reads are at most 64 KiB).
    assert.ok((proxy.connections()[0]?.heldBytes.toServer ?? 0) <= 2 * limit);
    proxy.release();
    let echoed = Buffer.alloc(0);
    a.socket.removeAllListeners("data");
    a.socket.on("data", (d: Buffer) => (echoed = Buffer.concat([echoed, d])));
    await until("all echoed", () => echoed.length === payload.length, 20_000);
    assert.ok(echoed.equals(payload));
    a.socket.destroy();
  }, limit);
});
