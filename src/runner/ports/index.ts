/**
 * The runner's port range: `port-allocator.ts` hands ports to deployments, asking the machine
 * through the `PortProbe` seam (`port-probe.ts`) which ones anybody else holds. The fake probe
 * is in `testing/`.
 */
export { PortAllocator, type PortAllocatorOptions, type PortAllocation } from "./port-allocator.ts";
export { SystemPortProbe, type PortProbe } from "./port-probe.ts";
export { parseListeningPorts, readListeningPorts } from "./listening-ports.ts";
