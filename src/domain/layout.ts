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

/** The schema of a layout file: a named set of services and the wires between their sockets. */
export const layoutSchema = z.strictObject({
  name: serviceName,
  description: z.string().optional(),
  /** Catalogue entries for the datasets its services read (ids, sources, sizes). */
  datasets: z.array(datasetSpecSchema).default([]),
  services: z.array(serviceManifestSchema).min(1, "at least one service"),
  wires: z.array(wire).default([]),
});

/** A validated layout (schema only; the layout engine checks the wiring). */
export type Layout = z.output<typeof layoutSchema>;

/** Prints a wire end as it is written in the file. */
export function formatWireEnd(end: WireEnd): string {
  return `${end.service}.${end.socket}`;
}
