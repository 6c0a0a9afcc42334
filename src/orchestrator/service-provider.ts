import type { MessageInitShape } from "@bufbuild/protobuf";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import { RunnerErrorCode, type SpawnRequestSchema } from "../protocol/index.ts";
import type { LogOptions } from "./control-plane.ts";
import type { Registry } from "./registry.ts";

/** What a spawn resolves to: the process and the real addresses of its offered sockets. */
export type SpawnOutcome =
  | { readonly ok: true; readonly pid: number; readonly addresses: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly reason: string };

/** A route change for one node, in the layout engine's terms. */
export interface NodeRouteChange {
  readonly upserts: readonly {
    deploymentId: string;
    socket: string;
    local: string;
    remotes: readonly string[];
    serverKey?: string;
  }[];
  readonly removals: readonly { deploymentId: string; socket: string }[];
}

/**
 * How the supervisor runs services (DESIGN.md §2): `spawn` resolves to the deployment's address
 * metadata. `ClusterRuntime` does it through the runners; `LocalRuntime` (local-runtime.ts) on
 * this machine, through an in-process runner.
 */
export interface ServiceProvider {
  /** Whether the provider can act on this node now. */
  reachable(nodeId: string): boolean;
  spawn(nodeId: string, request: MessageInitShape<typeof SpawnRequestSchema>): Promise<SpawnOutcome>;
  stop(nodeId: string, deploymentId: string, graceMs: number): Promise<void>;
  routes(nodeId: string, change: NodeRouteChange): Promise<void>;
  logs(nodeId: string, deploymentId: string, options: LogOptions): AsyncIterable<Uint8Array>;
  /** Opens (with the epoch to stamp) or closes a deployment's order path; throws if unreachable. */
  orderPath(nodeId: string, deploymentId: string, open: boolean, epoch: bigint): void;
}

/** The services run by the runners of the registry, through their streams. */
export class ClusterRuntime implements ServiceProvider {
  constructor(private readonly registry: Registry) {}

  reachable(nodeId: string): boolean {
    const node = this.registry.find(nodeId);
    return node !== undefined && node.health === "ready" && node.session?.open === true;
  }

  async spawn(nodeId: string, request: MessageInitShape<typeof SpawnRequestSchema>): Promise<SpawnOutcome> {
    const answer = await this.session(nodeId).spawn(request);
    if (!answer.ok) return { ok: false, reason: answer.error?.message ?? "the runner did not say why" };
    return {
      ok: true,
      pid: answer.pid,
      addresses: Object.fromEntries(answer.addresses.map((a) => [a.socketName, a.address])),
    };
  }

  async stop(nodeId: string, deploymentId: string, graceMs: number): Promise<void> {
    const answer = await this.session(nodeId).stop(deploymentId, graceMs);
    // A deployment the runner no longer has is as stopped as it gets.
    if (answer.ok || answer.error?.code === RunnerErrorCode.NOT_FOUND) return;
    throw new HiveError(ErrorCode.Unavailable, answer.error?.message ?? `stop of ${deploymentId} failed`);
  }

  routes(nodeId: string, change: NodeRouteChange): Promise<void> {
    return this.session(nodeId).routes(change.upserts, change.removals);
  }

  logs(nodeId: string, deploymentId: string, options: LogOptions): AsyncIterable<Uint8Array> {
    return this.session(nodeId).readLogs(deploymentId, options);
  }

  orderPath(nodeId: string, deploymentId: string, open: boolean, epoch: bigint): void {
    this.session(nodeId).send({ case: "setOrderPath", value: { deploymentId, open, epoch } });
  }

  private session(nodeId: string) {
    const session = this.registry.find(nodeId)?.session;
    if (!session?.open)
      throw new HiveError(ErrorCode.Unavailable, `the runner of ${nodeId} is not connected`);
    return session;
  }
}
