import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { PortAllocator } from "./port-allocator.ts";
import { SystemPortProbe } from "./port-probe.ts";
import { FakePortProbe } from "./testing/fake-port-probe.ts";

function isExhausted(range: string) {
  return (err: Error & { code?: string }) =>
    err.code === "failed_precondition" && err.message.includes(`port range ${range}`);
}

describe("PortAllocator (fake probe)", () => {
  test("concurrent allocations never collide and fill the range exactly", async () => {
    const ports = new PortAllocator({ first: 30000, last: 30099, probe: new FakePortProbe() });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => ports.allocate(`d${i}`, 2)));
    const all = results.flat();
    assert.equal(all.length, 100);
    assert.equal(new Set(all).size, 100);
    assert.ok(all.every((p) => p >= 30000 && p <= 30099));
    assert.equal(ports.free(), 0);
    assert.deepEqual(ports.portsOf("d7"), results[7]);
    await assert.rejects(ports.allocate("one-more", 1), isExhausted("30000-30099"));
  });

  test("skips ports other processes listen on or have bound", async () => {
    const probe = new FakePortProbe();
    probe.listeners.add(30001);
    probe.bound.add(30003);
    const ports = new PortAllocator({ first: 30000, last: 30005, probe });
    assert.deepEqual(await ports.allocate("a", 4), [30000, 30002, 30004, 30005]);
    // The listener was filtered out without a bind; the silently bound one only by the bind.
    assert.equal(probe.binds, 5);
  });

  test("a released port is not handed out again before the range has gone round", async () => {
    const ports = new PortAllocator({ first: 30000, last: 30003, probe: new FakePortProbe() });
    assert.deepEqual(await ports.allocate("a", 1), [30000]);
    assert.deepEqual(ports.release("a"), [30000]);
    assert.deepEqual(await ports.allocate("b", 1), [30001]);
    assert.deepEqual(await ports.allocate("c", 3), [30002, 30003, 30000]);
  });

  test("release frees an owner's ports for reuse; inUse and free follow", async () => {
    const ports = new PortAllocator({ first: 30000, last: 30002, probe: new FakePortProbe() });
    await ports.allocate("a", 2);
    await ports.allocate("b", 1);
    await ports.allocate("a", 0);
    assert.deepEqual(ports.inUse(), [
      { owner: "a", ports: [30000, 30001] },
      { owner: "b", ports: [30002] },
    ]);
    await assert.rejects(ports.allocate("c", 1), isExhausted("30000-30002"));
    assert.deepEqual(ports.release("a"), [30000, 30001]);
    assert.deepEqual(ports.release("a"), []);
    assert.equal(ports.free(), 2);
    assert.deepEqual((await ports.allocate("c", 2)).sort(), [30000, 30001]);
    assert.deepEqual(ports.inUse(), [
      { owner: "b", ports: [30002] },
      { owner: "c", ports: [30000, 30001] },
    ]);
  });

  test("a failed allocation takes nothing, and the ones queued behind it still run", async () => {
    const ports = new PortAllocator({ first: 30000, last: 30001, probe: new FakePortProbe() });
    const [tooMany, fits] = await Promise.allSettled([ports.allocate("a", 3), ports.allocate("b", 2)]);
    assert.ok(tooMany.status === "rejected");
    assert.match(String(tooMany.reason), /asked for 3 port\(s\), 2 free/);
    assert.deepEqual(fits, { status: "fulfilled", value: [30000, 30001] });
  });

  test("rejects an invalid range or count with invalid_argument", async () => {
    assert.throws(() => new PortAllocator({ first: 3000, last: 2999 }), { code: "invalid_argument" });
    assert.throws(() => new PortAllocator({ first: 0, last: 10 }), { code: "invalid_argument" });
    const ports = new PortAllocator({ first: 30000, last: 30001, probe: new FakePortProbe() });
    await assert.rejects(ports.allocate("a", -1), { code: "invalid_argument" });
    await assert.rejects(ports.allocate("a", 1.5), { code: "invalid_argument" });
  });
});

// A probe that only binds, to prove the bind alone catches a busy port.
class BindOnlyProbe extends SystemPortProbe {
  override listening(): Promise<ReadonlySet<number>> {
    return Promise.resolve(new Set());
  }
}

const LOOPBACK = "127.0.0.1";

/** A window of `size` consecutive ports free on loopback right now (tests share the machine). */
async function freeWindow(size: number): Promise<number> {
  const probe = new SystemPortProbe();
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = 20000 + Math.floor(Math.random() * 10000);
    const listening = await probe.listening();
    let ok = true;
    for (let p = first; p < first + size && ok; p++)
      ok = !listening.has(p) && (await probe.canBind(p, LOOPBACK));
    if (ok) return first;
  }
  throw new Error(`no window of ${size} free ports found`);
}

/** Starts another process listening on host:port; resolves once it listens. */
async function listenInChild(port: number) {
  const code = `require("net").createServer().listen(${port}, "${LOOPBACK}", () => console.log("ready"));`;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  const [chunk] = (await once(child.stdout, "data")) as [Buffer];
  assert.equal(chunk.toString().trim(), "ready");
  return {
    async stop(): Promise<void> {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await once(child, "exit");
      }
    },
  };
}

describe("PortAllocator (this machine, loopback)", () => {
  test("the bind probe says no for a port held by a server, yes once it is closed", async () => {
    const server = createServer();
    server.listen(0, LOOPBACK);
    await once(server, "listening");
    const address = server.address();
    assert.ok(address !== null && typeof address === "object");
    const probe = new SystemPortProbe();
    try {
      assert.equal(await probe.canBind(address.port, LOOPBACK), false);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    assert.equal(await probe.canBind(address.port, LOOPBACK), true);
  });

  test("the bind probe rejects a host that is not an address of this machine", async () => {
    await assert.rejects(new SystemPortProbe().canBind(30000, "192.0.2.1"), { code: "invalid_argument" });
  });

  for (const [name, probe] of [
    ["/proc and bind", new SystemPortProbe({ readProcNet: true })],
    ["bind alone", new BindOnlyProbe()],
  ] as const) {
    test(`a port another process listens on is skipped (${name})`, async () => {
      const first = await freeWindow(4);
      const other = await listenInChild(first + 1);
      try {
        const ports = new PortAllocator({ first, last: first + 3, host: LOOPBACK, probe });
        assert.deepEqual(await ports.allocate("a", 3), [first, first + 2, first + 3]);
        await assert.rejects(ports.allocate("b", 1), isExhausted(`${first}-${first + 3}`));
      } finally {
        await other.stop();
      }
    });
  }

  test("concurrent allocations never collide, and every port handed out can be bound", async () => {
    const first = await freeWindow(60);
    const ports = new PortAllocator({ first, last: first + 59, host: LOOPBACK });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => ports.allocate(`d${i}`, 3)));
    const all = results.flat();
    assert.equal(new Set(all).size, 60);
    const probe = new SystemPortProbe();
    for (const port of all) assert.ok(await probe.canBind(port, LOOPBACK), `port ${port}`);
  });
});

test("reserve records a re-adopted owner's ports, which are then never handed out", async () => {
  const ports = new PortAllocator({ first: 45000, last: 45002, probe: new FakePortProbe() });
  ports.reserve("old", [45000, 45002]);
  assert.deepEqual(await ports.allocate("new", 1), [45001]);
  await assert.rejects(ports.allocate("more", 1), /exhausted/);
  assert.throws(() => ports.reserve("other", [45001]), /held by new/);
  assert.throws(() => ports.reserve("other", [46000]), /outside the range 45000-45002/);
});
