/**
 * One deployment's life on this node, in the shape of Nomad's allocrunner. Start with
 * `node-deployments.ts` (spawn, stop, exit watching, release), then:
 *
 * - `spawn-hooks.ts`: the spawn's ordered steps, each with its undo (command, ports, pinned
 *   cores, datasets, post office, cgroup, process);
 * - `order-path-commands.ts`: the orchestrator's SetOrderPath, also while a spawn is in progress;
 * - `self-fencing.ts`: what the runner does to live deployments as its lease comes and goes;
 * - `recovery.ts` and `adoption-record.ts`: taking back processes that outlived a runner;
 * - `node-deployment.ts`: the `NodeDeployment` record and its protocol status;
 * - `cpu-pinning.ts`, `strategy-environment.ts`, `same-directory.ts`: what the steps use.
 */
export { adoptionRecordOf, type AdoptionRecord } from "./adoption-record.ts";
export { CpuPinning } from "./cpu-pinning.ts";
export { hasOrderPath, processStatus, type NodeDeployment } from "./node-deployment.ts";
export { NodeDeployments, type NodeDeploymentsOptions, type Spawning } from "./node-deployments.ts";
export { OrderPathCommands } from "./order-path-commands.ts";
export { recoverDeployments } from "./recovery.ts";
export { SelfFencing, type SelfFencingOptions } from "./self-fencing.ts";
export { spawnDeployment, type SpawnContext } from "./spawn-hooks.ts";
