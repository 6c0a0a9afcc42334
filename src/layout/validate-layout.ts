/**
 * The wiring checks of a layout, beyond what its schema can see: names that must match across
 * services and wires, and ZeroMQ's rules on which sockets may meet.
 *
 * Every problem is reported, not only the first, so a user fixes a file in one pass. To keep the
 * list free of echoes, a wire is checked in stages and stops at its first failing stage:
 *   1. each end names a known service and one of its sockets;
 *   2. one end is offered and the other consumed;
 *   3. it is not a repeat of an earlier wire (in either from/to order);
 *   4. the patterns are ZeroMQ peers (COMPATIBLE_PEERS);
 *   5. a consumed socket without fan-in (CONSUMER_FAN_IN) has no other wire that passed 1-4.
 * A consumed socket counts as wired as soon as a wire end names it, even by a failing wire: that
 * wire's own issue is the one to fix, an "unwired" issue on top would be noise.
 */
import {
  COMPATIBLE_PEERS,
  CONSUMER_FAN_IN,
  formatWireEnd,
  ValidationError,
  type Layout,
  type ValidationIssue,
  type WireEnd,
} from "../domain/index.ts";
import {
  formatEnd,
  indexServices,
  listWords,
  resolveEnd,
  socketKey,
  type IndexedService,
  type ResolvedEnd,
} from "./layout-graph.ts";

/** Every wiring problem of a layout, in file order (services, then wires, then unwired sockets); empty when valid. */
export function validateLayout(layout: Layout): ValidationIssue[] {
  const services = indexServices(layout);
  const issues: ValidationIssue[] = [...duplicateNames(layout)];
  /** Consumed sockets named by any wire end. */
  const wired = new Set<string>();
  /** Wires that passed stages 1-3, by their canonical `consumer|producer` key. */
  const seen = new Map<string, number>();
  /** For each consumed socket, the first wire that passed stages 1-4. */
  const firstPeer = new Map<string, { wire: number; producer: ResolvedEnd }>();

  layout.wires.forEach((wire, w) => {
    const path = `wires[${w}]`;
    // Stage 1: both ends resolve.
    const from = resolveEnd(services, wire.from);
    const to = resolveEnd(services, wire.to);
    for (const [end, resolved, field] of [
      [wire.from, from, "from"],
      [wire.to, to, "to"],
    ] as const) {
      if (resolved === undefined) issues.push(unknownEnd(services, end, `${path}.${field}`));
      else if (resolved.side === "consumes") wired.add(formatEnd(resolved));
    }
    if (from === undefined || to === undefined) return;

    // Stage 2: one offered, one consumed.
    if (from.side === to.side) {
      const words = from.side === "offers" ? "offered (bound)" : "consumed (connecting)";
      issues.push({
        path,
        found: `${formatEnd(from)} and ${formatEnd(to)}, both ${words} sockets`,
        expected: "one socket that a service offers and one that another consumes",
      });
      return;
    }
    const [consumer, producer] = from.side === "consumes" ? [from, to] : [to, from];
    const consumed = formatEnd(consumer);

    // Stage 3: not a repeat; from/to order does not make a different wire.
    const key = `${consumed}|${formatEnd(producer)}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      issues.push({
        path,
        found: `${formatWireEnd(wire.from)} → ${formatWireEnd(wire.to)}, already wired at wires[${earlier}]`,
        expected: "each wire once",
      });
      return;
    }
    seen.set(key, w);

    // Stage 4: ZeroMQ peers.
    const peers = COMPATIBLE_PEERS[consumer.socket.pattern];
    if (!peers.includes(producer.socket.pattern)) {
      issues.push({
        path,
        found: `${producer.socket.pattern} ${formatEnd(producer)} wired to ${consumer.socket.pattern} ${consumed}`,
        expected: `for the ${consumer.socket.pattern} socket ${consumed}, an offered ${listWords(peers)} socket`,
      });
      return;
    }

    // Stage 5: fan-in; every wire after the first one is the problem.
    const first = firstPeer.get(consumed);
    if (first === undefined) {
      firstPeer.set(consumed, { wire: w, producer });
    } else if (!CONSUMER_FAN_IN[consumer.socket.pattern]) {
      issues.push({
        path,
        found: `${consumed} wired to ${formatEnd(first.producer)} (wires[${first.wire}]) and to ${formatEnd(producer)}`,
        expected:
          `one peer only for ${consumed}: a consumed ${consumer.socket.pattern} socket ` +
          "reaches exactly one offered socket",
      });
    }
  });

  issues.push(...gatewayIssues(layout, services, wired));
  issues.push(...unwiredSockets(layout, wired));
  issues.push(...sharedAccounts(layout));
  issues.push(...uncataloguedDatasets(layout));
  return issues;
}

/**
 * One account, one trader, within a layout: an account named by two services is refused whether
 * or not their orders are routed yet (across layouts the orchestrator checks the same).
 */
function sharedAccounts(layout: Layout): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const traders = new Map<string, string>();
  layout.services.forEach((m, i) => {
    for (const account of m.accounts) {
      const other = traders.get(account);
      if (other !== undefined && other !== m.name) {
        issues.push({
          path: `services[${i}].accounts`,
          found: `${account}, also traded by ${other}`,
          expected: "each account traded by one service (one account, one trader)",
        });
      }
      traders.set(account, m.name);
    }
  });
  return issues;
}

/**
 * Every dataset a service reads is in the layout's catalogue (the version too, when the service
 * names one): the runner loads it from the catalogue's source, and the scheduler weighs data
 * locality by its size. Without an entry the runner of a cold node has nothing to load.
 */
function uncataloguedDatasets(layout: Layout): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  layout.services.forEach((m, i) => {
    m.datasets.forEach((d, j) => {
      const found = layout.datasets.some(
        (c) => c.id === d.id && (d.version === undefined || c.version === d.version),
      );
      if (found) return;
      const known = layout.datasets.map((c) => `${c.id}@${c.version}`).join(", ") || "none";
      issues.push({
        path: `services[${i}].datasets[${j}]`,
        found: d.version === undefined ? d.id : `${d.id} version ${d.version}`,
        expected: `a dataset of the layout's datasets catalogue (it has: ${known})`,
      });
    });
  });
  return issues;
}

/**
 * The checks of `gateways`: each orders end is a live strategy's consumed dealer socket with
 * accounts and no wire of its own, each marketData end an offered pub socket. Order sockets named
 * here count as wired.
 */
function gatewayIssues(
  layout: Layout,
  services: ReadonlyMap<string, IndexedService>,
  wired: Set<string>,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const names = new Map<string, number>();
  layout.gateways.forEach((gateway, g) => {
    const path = `gateways[${g}]`;
    const earlier = names.get(gateway.name);
    if (earlier !== undefined) {
      issues.push({
        path: `${path}.name`,
        found: `${gateway.name}, already named at gateways[${earlier}]`,
        expected: "each gateway once, with all its sockets",
      });
    }
    names.set(gateway.name, g);
    gateway.orders.forEach((end, i) => {
      const at = `${path}.orders[${i}]`;
      const resolved = resolveEnd(services, end);
      if (resolved === undefined) return void issues.push(unknownEnd(services, end, at));
      const key = formatEnd(resolved);
      const m = resolved.service.manifest;
      if (resolved.side !== "consumes" || resolved.socket.pattern !== "dealer") {
        return void issues.push({
          path: at,
          found: `${key}, ${resolved.side === "offers" ? "an offered" : "a consumed"} ${resolved.socket.pattern} socket`,
          expected: "a consumed dealer socket of a strategy (its orders)",
        });
      }
      if (wired.has(key)) {
        return void issues.push({
          path: at,
          found: `${key}, which a wire or another gateway already routes`,
          expected: "an orders socket routed to one gateway only",
        });
      }
      wired.add(key);
      if (m.kind !== "strategy" || m.accounts.length === 0) {
        return void issues.push({
          path: `services[${resolved.service.index}].accounts`,
          found: m.kind !== "strategy" ? `a ${m.kind}` : "no accounts",
          expected: `a strategy with the accounts it trades, as ${key} goes to gateway ${gateway.name}`,
        });
      }
      if (m.pool !== "live") {
        // Only a live strategy is fenced, and its order path opened: on another pool it would
        // claim the accounts and never trade, and could be restarted elsewhere without a fence.
        issues.push({
          path: `services[${resolved.service.index}].pool`,
          found: m.pool,
          expected: `live, as ${key} trades through gateway ${gateway.name}`,
        });
      }
    });
    gateway.marketData.forEach((end, i) => {
      const at = `${path}.marketData[${i}]`;
      const resolved = resolveEnd(services, end);
      if (resolved === undefined) return void issues.push(unknownEnd(services, end, at));
      if (resolved.side !== "offers" || resolved.socket.pattern !== "pub") {
        issues.push({
          path: at,
          found: `${formatEnd(resolved)}, ${resolved.side === "offers" ? "an offered" : "a consumed"} ${resolved.socket.pattern} socket`,
          expected: "an offered pub socket (market data) for the paper broker's prices",
        });
      }
    });
  });
  return issues;
}

/** Throws a ValidationError listing every wiring problem of the layout, if it has any. */
export function assertValidLayout(layout: Layout): void {
  const issues = validateLayout(layout);
  if (issues.length > 0) throw new ValidationError(issues);
}

/** A second service of the same name: the later one is the problem. */
function duplicateNames(layout: Layout): ValidationIssue[] {
  const first = new Map<string, number>();
  const issues: ValidationIssue[] = [];
  layout.services.forEach((service, i) => {
    const earlier = first.get(service.name);
    if (earlier === undefined) {
      first.set(service.name, i);
      return;
    }
    issues.push({
      path: `services[${i}].name`,
      found: `${service.name}, already the name of services[${earlier}]`,
      expected: "a service name used once in the layout",
    });
  });
  return issues;
}

/** Explains a wire end that names no service, or no socket of its service. */
function unknownEnd(
  services: ReadonlyMap<string, IndexedService>,
  end: WireEnd,
  path: string,
): ValidationIssue {
  const found = formatWireEnd(end);
  const service = services.get(end.service);
  if (service === undefined) {
    return { path, found, expected: `a service of this layout: ${[...services.keys()].join(", ")}` };
  }
  const { offers, consumes } = service.manifest.sockets;
  const names = [...offers, ...consumes].map((s) => s.name);
  return {
    path,
    found,
    expected:
      names.length === 0
        ? `a socket of ${end.service}, but it declares none (sockets.offers, sockets.consumes)`
        : `a socket of ${end.service}: ${names.join(", ")}`,
  };
}

/** Consumed sockets that no wire names and that are not marked optional. */
function unwiredSockets(layout: Layout, wired: ReadonlySet<string>): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  layout.services.forEach((service, i) => {
    service.sockets.consumes.forEach((socket, s) => {
      const key = socketKey(service.name, socket.name);
      if (socket.optional || wired.has(key)) return;
      issues.push({
        path: `services[${i}].sockets.consumes[${s}]`,
        found: `${key} (${socket.pattern}) with no wire`,
        expected: `a wire to an offered ${listWords(COMPATIBLE_PEERS[socket.pattern])} socket, or optional: true`,
      });
    });
  });
  return issues;
}
