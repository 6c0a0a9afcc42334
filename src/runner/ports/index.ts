export { PortAllocator, type PortAllocatorOptions, type PortAllocation } from "./port-allocator.ts";
export { SystemPortProbe, type PortProbe } from "./port-probe.ts";
export { parseListeningPorts, readListeningPorts } from "./listening-ports.ts";
