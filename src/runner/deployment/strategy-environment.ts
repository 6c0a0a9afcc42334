/**
 * The environment a process starts with: the strategy contract of DESIGN.md §4. Pure, so the
 * contract is tested in one place, the same for a Node, Python or C++ program.
 */

/** What the runner knows about one deployment when it builds its environment. */
export interface EnvironmentInput {
  readonly deploymentId: string;
  readonly layout: string;
  readonly service: string;
  readonly nodeId: string;
  /** The manifest's own `env`, which may not override the HIVE_ variables. */
  readonly env: Readonly<Record<string, string>>;
  /** Consumed sockets: name → local endpoint (ipc://...), through the post office. */
  readonly localSockets: Readonly<Record<string, string>>;
  /** Offered sockets and named ports: name → port the runner allocated. */
  readonly ports: Readonly<Record<string, number>>;
  /** The address other nodes reach this node at, for HIVE_ADDR_<NAME>. */
  readonly advertiseHost: string;
  /** Datasets: name → path of the hot copy in RAM. */
  readonly datasets: Readonly<Record<string, string>>;
}

/** The variables the runner owns; a manifest's `env` may set any other, HIVE_RESULTS_DIR included. */
export const RESERVED = /^HIVE_(DEPLOYMENT_ID|SERVICE|LAYOUT|NODE_ID|SOCKET_.*|PORT_.*|ADDR_.*|DATASET_.*)$/;

/** `market_data` → `MARKET_DATA`: the suffix of HIVE_SOCKET_, HIVE_PORT_, HIVE_DATASET_. */
export function envSuffix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/**
 * Builds the environment a deployment is given (the process layer adds PATH, HOME and LANG from
 * the runner where this lacks them, and nothing else). Ordering rule: the manifest's `env` first,
 * then the HIVE_ contract, so that a manifest can neither forge a deployment id nor point a
 * socket elsewhere.
 */
export function buildEnvironment(input: EnvironmentInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.env)) if (!RESERVED.test(k)) env[k] = v;
  env.HIVE_DEPLOYMENT_ID = input.deploymentId;
  env.HIVE_LAYOUT = input.layout;
  env.HIVE_SERVICE = input.service;
  env.HIVE_NODE_ID = input.nodeId;
  for (const [name, endpoint] of Object.entries(input.localSockets))
    env[`HIVE_SOCKET_${envSuffix(name)}`] = endpoint;
  for (const [name, port] of Object.entries(input.ports)) {
    env[`HIVE_PORT_${envSuffix(name)}`] = String(port);
    env[`HIVE_ADDR_${envSuffix(name)}`] = `tcp://${input.advertiseHost}:${port}`;
  }
  for (const [name, path] of Object.entries(input.datasets)) env[`HIVE_DATASET_${envSuffix(name)}`] = path;
  return env;
}
