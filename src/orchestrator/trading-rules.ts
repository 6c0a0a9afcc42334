/**
 * What the orchestrator derives from applied layouts about trading, as pure functions: the
 * checks only it can make at apply (the gateways it knows, one trader per account across
 * layouts), which gateways hold an account (for the kill switch), and which market-data
 * publishers each gateway's paper broker should follow.
 */
import type { Layout, ValidationIssue } from "../domain/index.ts";
import { gatewaysOf } from "./order-gate.ts";

/** An applied layout, as these rules see it. */
export interface AppliedLayout {
  readonly name: string;
  readonly layout: Layout;
  /** Being stopped: its accounts are free for another layout. */
  readonly stopping: boolean;
}

/** A running instance and the addresses of its offered sockets. */
export interface RunningInstance {
  readonly layout: string;
  readonly service: string;
  readonly role: "active" | "standby";
  readonly running: boolean;
  readonly addresses: Readonly<Record<string, string>>;
}

/**
 * The issues of `layout` that only the orchestrator can see: a gateway it does not know, and an
 * account already traded by a service of another applied layout.
 */
export function gatewayIssues(
  layout: Layout,
  knownGateways: readonly string[],
  applied: Iterable<AppliedLayout>,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  layout.gateways.forEach((g, i) => {
    if (!knownGateways.includes(g.name)) {
      issues.push({
        path: `gateways[${i}].name`,
        found: g.name,
        expected:
          knownGateways.length > 0
            ? `a gateway this orchestrator knows: ${knownGateways.join(", ")}`
            : "a gateway this orchestrator knows, but it has none (hive orchestrator --gateway ...)",
      });
    }
  });
  const others = [...applied].filter((a) => a.name !== layout.name && !a.stopping);
  layout.services.forEach((m, i) => {
    for (const account of m.accounts) {
      for (const other of others) {
        const holder = other.layout.services.find((s) => s.accounts.includes(account));
        if (holder) {
          issues.push({
            path: `services[${i}].accounts`,
            found: `${account}, traded by ${holder.name} of layout ${other.name}`,
            expected: "each account traded by one service (one account, one trader)",
          });
        }
      }
    }
  });
  return issues;
}

/** The gateways a layout's strategy trades `account` through, sorted; all of `known` if none does. */
export function gatewaysForAccount(
  account: string,
  applied: Iterable<AppliedLayout>,
  known: readonly string[],
): string[] {
  const named = new Set<string>();
  for (const a of applied) {
    for (const m of a.layout.services) {
      if (m.accounts.includes(account)) for (const g of gatewaysOf(a.layout, m.name)) named.add(g);
    }
  }
  return named.size > 0 ? [...named].sort() : [...known];
}

/**
 * For each known gateway, the addresses of the running active publishers that layouts name in
 * its `marketData` (an empty list for a gateway no layout feeds).
 */
export function marketDataSources(
  applied: Iterable<AppliedLayout>,
  instances: Iterable<RunningInstance>,
  known: readonly string[],
): Map<string, string[]> {
  const sources = new Map<string, string[]>(known.map((n) => [n, []]));
  const running = [...instances].filter((d) => d.running && d.role === "active");
  for (const a of applied) {
    for (const g of a.layout.gateways) {
      for (const end of g.marketData) {
        for (const d of running) {
          const address = d.addresses[end.socket];
          if (d.layout === a.name && d.service === end.service && address !== undefined)
            sources.get(g.name)?.push(address);
        }
      }
    }
  }
  return sources;
}
