/** The names of bench/mock-fleet.ts's mock runners, shared with the parent that issues their certificates. */

/** The node id of mock runner number `i`. */
export const nodeId = (i: number): string => `mock-${String(i).padStart(5, "0")}`;
