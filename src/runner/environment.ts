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
  /** Variables passed through from the runner's own environment (PATH, HOME, LANG...). */
  readonly inherited: Readonly<Record<string, string | undefined>>;
}

/** Variables a process gets from the runner's environment unless its manifest sets them. */
export const INHERITED_VARIABLES = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"] as const;

/** `market_data` → `MARKET_DATA`: the suffix of HIVE_SOCKET_, HIVE_PORT_, HIVE_DATASET_. */
export function envSuffix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/**
 * Builds the full environment. Ordering rule: inherited variables first, then the manifest's
 * `env`, then the HIVE_ contract last, so that neither the runner's environment nor a manifest
 * can forge a deployment id or point a socket elsewhere.
 */
export function buildEnvironment(input: EnvironmentInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_VARIABLES) {
    const value = input.inherited[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [k, v] of Object.entries(input.env)) if (!k.startsWith("HIVE_")) env[k] = v;
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
