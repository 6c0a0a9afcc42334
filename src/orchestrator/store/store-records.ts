/**
 * The records the orchestrator keeps in its desired-state store. They are plain data (no methods,
 * no Dates: timestamps are ISO strings) so that every store implementation can write them as rows
 * or as JSON values, and read back exactly what was written.
 */

/** The lifecycle of an applied layout. */
export const LAYOUT_STATES = [
  /** Applied: its deployments are driven towards running. */
  "active",
  /** `hive stop` was asked: its deployments are being stopped, then the layout is deleted. */
  "stopping",
] as const;

/** One of {@link LAYOUT_STATES}. */
export type LayoutState = (typeof LAYOUT_STATES)[number];

/** A layout as it was applied: the text a person wrote and the validated form the engine uses. */
export interface LayoutRecord {
  /** The layout's name (unique: re-applying a layout of the same name replaces it). */
  readonly name: string;
  /** The YAML text as applied, kept so `hive status` can show what was asked. */
  readonly source: string;
  /** The validated layout as JSON (anything JSON.stringify accepts, without loss). */
  readonly spec: unknown;
  /** 1 on the first apply, then one more on each re-apply. */
  readonly generation: number;
  /** When it was (re-)applied, ISO 8601. */
  readonly appliedAt: string;
  /** Whether it runs or is being stopped. */
  readonly state: LayoutState;
}

/** What a deployment is for: the instance that trades, or its warm standby. */
export const DEPLOYMENT_ROLES = ["active", "standby"] as const;

/** One of {@link DEPLOYMENT_ROLES}. */
export type DeploymentRole = (typeof DEPLOYMENT_ROLES)[number];

/** What the supervisor drives a deployment towards. */
export const DESIRED_STATES = ["running", "stopped"] as const;

/** One of {@link DESIRED_STATES}. */
export type DesiredState = (typeof DESIRED_STATES)[number];

/** How a deployment's last process ended. */
export interface LastExit {
  /** The exit code, or null when a signal ended it. */
  readonly code: number | null;
  /** The signal's name (`SIGKILL`), or null when it exited by itself. */
  readonly signal: string | null;
  /** Why, in words: "exited with code 1", "node lost", "OOM killed". */
  readonly reason: string;
  /** When, ISO 8601. */
  readonly at: string;
}

/** One instance of one service of a layout (an active one, or a standby), and where it runs. */
export interface DeploymentRecord {
  /** The DeploymentID: unique, never reused. */
  readonly id: string;
  /** The layout it belongs to. */
  readonly layout: string;
  /** The service of that layout it runs. */
  readonly service: string;
  /** Active or standby. */
  readonly role: DeploymentRole;
  /** Which replica of the service (0, 1, ...). */
  readonly replica: number;
  /** The generation of the layout it was created for. */
  readonly generation: number;
  /** The node it is placed on; null while it is pending. */
  readonly nodeId: string | null;
  /** Its fencing epoch; 0 for anything that does not trade. May exceed 2^53. */
  readonly epoch: bigint;
  /** What the supervisor drives it towards. */
  readonly desired: DesiredState;
  /** How many times it was restarted. */
  readonly restarts: number;
  /** When it was created, ISO 8601. */
  readonly createdAt: string;
  /** How its last process ended, if one did. */
  readonly lastExit?: LastExit;
  /** Why it cannot be placed, while it is pending. */
  readonly pendingReason?: string;
  /** The addresses its runner answered, by socket name (`tcp://10.0.0.5:40001`). */
  readonly addresses?: Readonly<Record<string, string>>;
}

/** Which deployments `listDeployments` returns; every field given must match (AND). */
export interface DeploymentFilter {
  /** Only the deployments of this layout. */
  readonly layout?: string;
  /** Only the deployments placed on this node (so never a pending one). */
  readonly nodeId?: string;
}
