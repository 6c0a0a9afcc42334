import { z } from "zod";
import { datasetSpecSchema } from "./dataset.ts";
import { serviceManifestSchema } from "./service-manifest.ts";
import { serviceName } from "./schema-helpers.ts";

const endpoint = z.string().transform((text, ctx) => {
  const match = /^([a-z][a-z0-9-]*)\.([a-z][a-z0-9_]*)$/.exec(text);
  if (!match) {
    ctx.addIssue({ code: "custom", message: "<service>.<socket>, such as feeder.market_data" });
    return z.NEVER;
  }
  return { service: match[1] ?? "", socket: match[2] ?? "" };
});

/** One end of a wire: a named socket of a named service. */
export type WireEnd = z.output<typeof endpoint>;

const wire = z.strictObject({ from: endpoint, to: endpoint });

/** A wire between two named sockets, written `from: feeder.market_data, to: momentum.market_data`. */
export type Wire = z.output<typeof wire>;

/**
 * A broker gateway a layout trades through. The gateway is a daemon the orchestrator knows by
 * name (`hive orchestrator --gateway name=...`), not a service of the layout: the orchestrator
 * fences it for every account of the strategies wired to it, and routes their orders to it.
 */
const gatewayUse = z.strictObject({
  /** The gateway's name in the orchestrator's configuration. */
  name: serviceName,
  /** Consumed order sockets (dealer) of strategies, e.g. momentum.orders. */
  orders: z.array(endpoint).min(1, "at least one strategy's orders socket, such as momentum.orders"),
  /** Offered market-data sockets (pub) whose prices the paper broker fills against. */
  marketData: z.array(endpoint).default([]),
});

/** A layout's use of a broker gateway. */
export type GatewayUse = z.output<typeof gatewayUse>;

/** The schema of a layout file: a named set of services and the wires between their sockets. */
export const layoutSchema = z.strictObject({
  name: serviceName,
  description: z.string().optional(),
  /** Catalogue entries for the datasets its services read (ids, sources, sizes). */
  datasets: z.array(datasetSpecSchema).default([]),
  services: z.array(serviceManifestSchema).min(1, "at least one service"),
  wires: z.array(wire).default([]),
  /** Broker gateways its strategies trade through (orders) and feed prices to (marketData). */
  gateways: z.array(gatewayUse).default([]),
});

/** A validated layout (schema only; the layout engine checks the wiring). */
export type Layout = z.output<typeof layoutSchema>;

/** Prints a wire end as it is written in the file. */
export function formatWireEnd(end: WireEnd): string {
  return `${end.service}.${end.socket}`;
}
