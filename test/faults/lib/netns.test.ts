/**
 * The namespace faults against the real kernel: reachability, a silent selective cut, cut-all,
 * link-down isolation, and that destroy() and the sweep leave nothing behind. Root only; under
 * CI=true these must run, not skip.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { after, afterEach, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { runCommand } from "./command.ts";
import { slotAddresses, TABLE_BASE, vethNames, extraAddress, addressLabel } from "./netns-layout.ts";
import { sweepStaleNamespaces } from "./netns-teardown.ts";
import { createNamespace, type Namespace } from "./netns.ts";
import { processes, type ManagedProcess, type OutputLine } from "./processes.ts";
import { netnsUsable, requireNetns } from "./require-netns.ts";

const ECHO_CLIENT = new URL("./fixtures/echo-client.ts", import.meta.url).pathname;
const CRASH = new URL("./fixtures/crash.ts", import.meta.url).pathname;
/** How long "nothing arrives" is watched: long enough for a retransmit, bounded all the same. */
const SILENCE_MS = 1_500;
/** TCP retransmits back off exponentially, so delivery after a heal can take a few seconds. */
const RECOVERY_MS = 20_000;

const support = await requireNetns();
afterEach(() => processes.killAll());

/** A root-side server that records, per accepted socket, the text received and the socket events. */
interface Peer {
  readonly socket: Socket;
  received: string;
  readonly events: string[];
}
interface TestServer {
  readonly port: number;
  readonly peers: Peer[];
  close(): Promise<void>;
}
const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function startServer(host: string): Promise<TestServer> {
  const peers: Peer[] = [];
  const server = createServer((socket) => {
    const peer: Peer = { socket, received: "", events: [] };
    peers.push(peer);
    socket.on("data", (d: Buffer) => (peer.received += d.toString()));
    for (const e of ["end", "close", "error"]) socket.on(e, () => peer.events.push(e));
  });
  server.listen(0, host);
  await once(server, "listening");
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  const handle: TestServer = {
    port: address.port,
    peers,
    close: () => {
      // Sockets first: close() waits for every connection to end.
      for (const p of peers) p.socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(handle);
  return handle;
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function firstPeer(server: TestServer): Promise<Peer> {
  await until("a connection", () => server.peers.length > 0, 15_000);
  return server.peers[0] as Peer;
}

const event =
  (name: string, kind: string) =>
  (l: OutputLine): boolean =>
    l.json?.event === kind && l.json.name === name;

function linesSince(p: ManagedProcess, since: number, name: string): string[] {
  return p.lines.filter((l) => l.index >= since && l.json?.name === name).map((l) => l.text);
}

async function roundTrip(peer: Peer, text: string): Promise<void> {
  peer.socket.write(text);
  await until(`echo of ${text}`, () => peer.received.includes(text), RECOVERY_MS);
}

async function withNamespace(name: string, body: (ns: Namespace) => Promise<void>): Promise<void> {
  const ns = await createNamespace(name);
  try {
    await body(ns);
  } finally {
    await ns.destroy();
  }
}

test("a process inside reaches servers on hostAddress and on an added host address", async (t) => {
  if (!netnsUsable(t, support)) return;
  await withNamespace("reach", async (ns) => {
    const extra = await ns.addHostAddress();
    assert.notEqual(extra, ns.hostAddress);
    const [a, b] = await Promise.all([startServer(ns.hostAddress), startServer(extra)]);
    const probe = processes.start(ECHO_CLIENT, {
      netns: ns,
      args: [`a=${ns.hostAddress}:${a.port}`, `b=${extra}:${b.port}`],
    });
    const connected = await probe.waitForLine(event("a", "connected"), 15_000);
    assert.equal(connected.json?.local, ns.nsAddress);
    await probe.waitForLine(event("b", "connected"), 15_000);
    await roundTrip(await firstPeer(a), "hello-a");
    await roundTrip(await firstPeer(b), "hello-b");
    // The process really is inside: the namespace has no veth of the root's and vice versa.
    const links = await ns.exec(["ip", "-o", "link"]);
    assert.match(links.stdout, new RegExp(ns.veth.ns));
    assert.doesNotMatch(links.stdout, /eth0/);
  });
});

test("cutTo stalls one address silently, the other keeps working, heal restores both ways", async (t) => {
  if (!netnsUsable(t, support)) return;
  await withNamespace("cutto", async (ns) => {
    const orchestratorIp = await ns.addHostAddress();
    const gatewayIp = ns.hostAddress;
    const [orchestrator, gateway] = await Promise.all([startServer(orchestratorIp), startServer(gatewayIp)]);
    const probe = processes.start(ECHO_CLIENT, {
      netns: ns,
      args: [`orch=${orchestratorIp}:${orchestrator.port}`, `gw=${gatewayIp}:${gateway.port}`],
    });
    const orch = await firstPeer(orchestrator);
    const gw = await firstPeer(gateway);
    await roundTrip(orch, "o1");
    await roundTrip(gw, "g1");

    await ns.cutTo(orchestratorIp);
    assert.deepEqual(ns.faults(), { cuts: [orchestratorIp], all: false, isolated: false });
    const mark = probe.lineCount;
    orch.socket.write("o2");
    // A new connection during the cut hangs (SYNs dropped), rather than being refused.
    const late = processes.start(ECHO_CLIENT, {
      netns: ns,
      args: [`late=${orchestratorIp}:${orchestrator.port}`],
    });
    await late.waitForLine((l) => l.json?.event === "started", 15_000);
    await roundTrip(gw, "g2");
    await sleep(SILENCE_MS);
    assert.deepEqual(linesSince(probe, mark, "orch"), [], "nothing reached the client across the cut");
    assert.equal(orch.received, "o1", "nothing came back across the cut");
    assert.deepEqual(orch.events, [], "no RST, FIN or error on the server side");
    assert.deepEqual(linesSince(late, 0, "late"), [], "a new connect neither completes nor fails");

    await ns.heal(orchestratorIp);
    await until("o2 to be echoed after heal", () => orch.received === "o1o2", RECOVERY_MS);
    await late.waitForLine(event("late", "connected"), RECOVERY_MS);
    await roundTrip(gw, "g3");
    assert.deepEqual(orch.events, []);
    assert.equal(probe.lines.filter((l) => l.json?.event === "error").length, 0, probe.tail());
  });
});

test("cut('all') stalls every address; heal('all') restores them", async (t) => {
  if (!netnsUsable(t, support)) return;
  await withNamespace("cutall", async (ns) => {
    const extra = await ns.addHostAddress();
    const [a, b] = await Promise.all([startServer(ns.hostAddress), startServer(extra)]);
    processes.start(ECHO_CLIENT, {
      netns: ns,
      args: [`a=${ns.hostAddress}:${a.port}`, `b=${extra}:${b.port}`],
    });
    const [pa, pb] = [await firstPeer(a), await firstPeer(b)];
    await ns.cut("all");
    pa.socket.write("x");
    pb.socket.write("y");
    await sleep(SILENCE_MS);
    assert.deepEqual([pa.received, pb.received, pa.events, pb.events], ["", "", [], []]);
    await ns.heal("all");
    assert.deepEqual(ns.faults(), { cuts: [], all: false, isolated: false });
    await until("both echoes", () => pa.received === "x" && pb.received === "y", RECOVERY_MS);
  });
});

test("isolate() downs the link: established connections stall, new connects fail fast; heal restores", async (t) => {
  if (!netnsUsable(t, support)) return;
  await withNamespace("isolate", async (ns) => {
    const server = await startServer(ns.hostAddress);
    const probe = processes.start(ECHO_CLIENT, { netns: ns, args: [`a=${ns.hostAddress}:${server.port}`] });
    const peer = await firstPeer(server);
    await roundTrip(peer, "1");
    await ns.cutTo(ns.hostAddress); // a cut made before isolation must survive it
    await ns.isolate();
    assert.equal(ns.faults().isolated, true);
    const mark = probe.lineCount;
    peer.socket.write("2");
    const late = processes.start(ECHO_CLIENT, { netns: ns, args: [`late=${ns.hostAddress}:${server.port}`] });
    const refused = await late.waitForLine(event("late", "error"), 15_000);
    assert.equal(refused.json?.code, "ENETUNREACH");
    await sleep(SILENCE_MS);
    assert.deepEqual(linesSince(probe, mark, "a"), []);
    assert.deepEqual(peer.events, []);

    await ns.heal(ns.hostAddress);
    assert.deepEqual(ns.faults(), { cuts: [], all: false, isolated: true });
    await ns.heal("all");
    await until("the held byte to be echoed", () => peer.received === "12", RECOVERY_MS);
    await roundTrip(peer, "3");
  });
});

async function leftovers(ns: {
  name: string;
  hostVeth: string;
  addresses: string[];
  table: number;
}): Promise<string[]> {
  const found: string[] = [];
  const netns = await runCommand(["ip", "netns", "list"]);
  if (netns.stdout.split("\n").some((l) => l.split(" ")[0] === ns.name)) found.push(`netns ${ns.name}`);
  const links = await runCommand(["ip", "-o", "link", "show"]);
  if (links.stdout.includes(`${ns.hostVeth}@`) || links.stdout.includes(`${ns.hostVeth}:`))
    found.push(`link ${ns.hostVeth}`);
  const addrs = await runCommand(["ip", "-o", "addr", "show", "dev", "lo"]);
  for (const a of ns.addresses) if (addrs.stdout.includes(` ${a}/`)) found.push(`address ${a}`);
  const rules = await runCommand(["ip", "rule", "show"]);
  if (rules.stdout.includes(`lookup ${ns.table}`)) found.push(`rule for table ${ns.table}`);
  return found;
}

test("destroy() leaves no namespace, veth, address, rule or process behind, and is idempotent", async (t) => {
  if (!netnsUsable(t, support)) return;
  const ns = await createNamespace("destroy");
  try {
    const extra = await ns.addHostAddress();
    await ns.cutTo(extra);
    await ns.cut("all");
    const child = ns.spawn(["sleep", "600"]);
    const slot = Number(/^hvt(\d+)h$/.exec(ns.veth.host)?.[1]);
    const owned = { name: ns.name, hostVeth: ns.veth.host, addresses: [extra], table: TABLE_BASE + slot };
    assert.ok((await leftovers(owned)).length >= 3, "the pieces exist before destroy");
    await ns.destroy();
    assert.deepEqual(await leftovers(owned), []);
    assert.notEqual(child.exitCode ?? child.signalCode, null, "the process inside is gone");
    await ns.destroy();
    assert.throws(() => ns.spawn(["true"]), /destroyed/);
  } finally {
    await ns.destroy();
  }
});

test("sweepStaleNamespaces removes what a dead process left, and leaves live namespaces alone", async (t) => {
  if (!netnsUsable(t, support)) return;
  const dead = spawnSync("true").pid;
  assert.ok(dead !== undefined);
  const live = await createNamespace("survivor");
  // Fake a crashed run's leftovers: a namespace named after a dead pid, its veth (claiming a free
  // slot from the top of the range, as createNamespace does from its own start), an lo address
  // and a rule. (Another test process's sweep may remove them first; either way they must go.)
  const name = `hivet-${dead}-crashed-${process.pid}`;
  assert.equal((await runCommand(["ip", "netns", "add", name])).code, 0);
  let slot = 16_383;
  for (; ; slot--) {
    const veth = vethNames(slot);
    const r = await runCommand([
      "ip",
      "link",
      "add",
      veth.host,
      "type",
      "veth",
      "peer",
      "name",
      veth.ns,
      "netns",
      name,
    ]);
    if (r.code === 0) break;
    assert.match(r.stderr, /File exists/);
  }
  const veth = vethNames(slot);
  const { nsAddress } = slotAddresses(slot);
  const address = extraAddress(slot, 0);
  const owned = { name, hostVeth: veth.host, addresses: [address], table: TABLE_BASE + slot };
  try {
    for (const argv of [
      ["ip", "link", "set", veth.host, "alias", name],
      ["ip", "addr", "add", `${address}/32`, "dev", "lo", "label", addressLabel(slot)],
      [
        "ip",
        "rule",
        "add",
        "pref",
        "100",
        "from",
        `${address}/32`,
        "to",
        `${nsAddress}/32`,
        "lookup",
        String(TABLE_BASE + slot),
      ],
    ]) {
      const r = await runCommand(argv);
      assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
    }
    assert.equal((await leftovers(owned)).length, 4, "the fake leftovers exist");
    const report = await sweepStaleNamespaces();
    assert.deepEqual(await leftovers(owned), [], JSON.stringify(report));
    assert.ok(!report.namespaces.includes(live.name));
    assert.equal((await live.exec(["true"])).code, 0, "the live namespace still works");
  } finally {
    await sweepStaleNamespaces();
    await live.destroy();
  }
});

for (const how of ["throw", "SIGINT", "SIGTERM"] as const) {
  test(`the exit hook cleans up a process that dies by ${how} without destroy()`, async (t) => {
    if (!netnsUsable(t, support)) return;
    const p = processes.start(CRASH, { args: [how === "throw" ? "throw" : "signal"] });
    const ready = await p.waitForLine((l) => l.json?.event === "ready", 20_000);
    const { name, veth, address } = ready.json as { name: string; veth: string; address: string };
    const slot = Number(/^hvt(\d+)h$/.exec(veth)?.[1]);
    const owned = { name, hostVeth: veth, addresses: [address], table: TABLE_BASE + slot };
    assert.equal((await leftovers(owned)).length, 4, "namespace, veth, address and rule exist");
    process.kill(p.pid, how === "throw" ? "SIGUSR2" : how);
    const exit = await p.exited;
    assert.ok(how === "throw" ? exit.code === 1 : exit.signal === how, JSON.stringify(exit));
    assert.deepEqual(await leftovers(owned), [], p.tail());
  });
}
