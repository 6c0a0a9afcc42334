import type { TlsMaterial } from "../security/pki/index.ts";
import type { Transport } from "@connectrpc/connect";
import type { Logger } from "../core/logger.ts";
import type { CgroupDriver } from "./cgroups/index.ts";
import type { DatasetStore } from "./datasets/index.ts";
import type { PortAllocator } from "./ports/index.ts";
import type { MonotonicClock } from "../core/monotonic-clock.ts";
import type {
  DeploymentSocket,
  LeaseView,
  OrderRateLimit,
  PostOfficeRouteUpdate,
  RouteCounters,
} from "./post-office/index.ts";
import type { ProcessLauncher } from "./process/index.ts";
import type { RunAs, UidAllocator } from "./uids/index.ts";

/** What the runner needs of its post office (the ZeroMQ sidecar); see src/runner/post-office/. */
export interface PostOfficePort {
  /** Creates the local endpoints of a deployment's consumed sockets: name → ipc:// endpoint. */
  addDeployment(
    deploymentId: string,
    sockets: readonly DeploymentSocket[],
    options: {
      epoch: bigint;
      ordersOpen: boolean;
      accounts?: readonly string[];
      rateLimit?: OrderRateLimit | undefined;
      runAs?: RunAs;
    },
  ): Promise<Record<string, string>>;
  /**
   * Binds the runner's lease: every order path asks it before it reads or sends an order
   * (optional for fakes, which forward nothing).
   */
  bindLease?(lease: LeaseView): void;
  /** Applies route upserts and removals (an order path's route may name a CURVE server key). */
  applyRoutes(update: PostOfficeRouteUpdate): Promise<void>;
  /** Opens or closes a deployment's order path at once. */
  setOrderPath(deploymentId: string, open: boolean, epoch?: bigint): void | Promise<void>;
  /** Closes a deployment's sockets and removes its endpoints. */
  removeDeployment(deploymentId: string): Promise<void>;
  /** Closes everything. */
  close(): Promise<void>;
  /** Resolves once sockets can be opened without waiting for the post office to start (optional for fakes). */
  ready?(): Promise<void>;
  /** Per-route counters, for metrics (optional for fakes). */
  counters?(): RouteCounters[];
  /** The CURVE public key its order paths present to gateways (empty or absent: none). */
  readonly curvePublicKey?: string;
}

/** The machine as the runner measured it at start. */
export interface MachineFacts {
  readonly cores: number;
  readonly memoryBytes: number;
  /** The CPUs this runner may use (its cpuset). */
  readonly cpus: readonly number[];
}

/** Everything the runner talks to, injectable for tests (real ones by default). */
export interface RunnerDeps {
  readonly cgroups: CgroupDriver;
  readonly launcher: ProcessLauncher;
  /**
   * The deployments' uids; undefined: every deployment runs as the runner's own user (a runner
   * that is not root, which says so loudly at start).
   */
  readonly uids?: UidAllocator;
  readonly ports: PortAllocator;
  readonly datasets: DatasetStore;
  readonly postOffice: PostOfficePort;
  readonly machine: MachineFacts;
  readonly load: { sample(): { cpu: number; memoryUsedBytes: number } };
  readonly log: Logger;
  readonly transport?: (url: string) => Transport;
  /** The CA, node certificate and key of the link to https:// orchestrators (mutual TLS). */
  readonly tls?: TlsMaterial;
  /** The join token presented at registration on a cleartext link (loopback); none by default. */
  readonly joinToken?: string;
  /** The clock of the lease and self-fencing timers; default the system's monotonic clock. */
  readonly clock?: MonotonicClock;
}
