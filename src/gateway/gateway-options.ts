/**
 * The gateway's options: `GatewayOptions` (what a caller gives: the CLI, tests, `hive dev`) →
 * `compileGatewayOptions()` (checks, defaults) → `CompiledGatewayOptions`.
 */
import type Database from "better-sqlite3";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import type { BrokerAdapter } from "./broker-adapter.ts";
import {
  compileGatewayConfig,
  defaultGatewayConfig,
  type GatewayConfig,
  type GatewayConfigInput,
} from "./gateway-config.ts";
import { isZ85Key, type CurveKeyPair } from "../core/z85.ts";
import { keyPairPath, loadOrCreateKeyPair } from "./keys.ts";

/** What `startGateway` takes. */
export interface GatewayOptions {
  /** The state directory (database, lock). */
  readonly stateDir: string;
  /** Where runners send orders, e.g. `tcp://127.0.0.1:7100` (port 0: any free port). */
  readonly ordersListen: string;
  /** Where the orchestrator sends control requests, e.g. `tcp://127.0.0.1:7101`. */
  readonly controlListen: string;
  /** The gateway's CURVE key pair, or a directory holding (or to hold) `gateway.key`. Required unless insecure. */
  readonly keyPair?: CurveKeyPair;
  readonly keysDir?: string;
  /** Z85 public keys admitted on the control socket. Required unless insecure. */
  readonly orchestratorKeys?: readonly string[];
  /** No CURVE on either socket: anyone who can connect may fence and trade (benchmarks, demos). */
  readonly insecure?: boolean;
  /** Risk limits and broker timeout, compiled or as the YAML file's object (default: defaultGatewayConfig()). */
  readonly config?: GatewayConfig | GatewayConfigInput;
  /** Market-data publishers to connect at start (else the set last given by the `marketData` op). */
  readonly marketData?: readonly string[];
  /** Serve Prometheus metrics at http://host:port/metrics. */
  readonly metricsListen?: { readonly host: string; readonly port: number };
  /** Forward orders to the broker with no check, record or audit: for the benchmark's baseline only. */
  readonly passThrough?: boolean;
  /**
   * CURVE keys admitted on the shared orders socket (`ordersListen`), whose connections are bound
   * to no node: their orders pass only fences that name no node, which the orchestrator never
   * writes. For the benchmark's baseline without the node binding only; default none (with CURVE,
   * runners use their node's own orders socket, node-sockets.ts).
   */
  readonly unboundOrderKeys?: readonly string[];
  /** The broker, built on the gateway's database (default: a PaperBroker). */
  readonly broker?: (db: Database.Database) => BrokerAdapter;
  readonly log?: Logger;
  /** The wall clock (ms since the Unix epoch); tests move it to see ids expire. Default Date.now. */
  readonly now?: () => number;
}

/** The options with defaults filled in and keys loaded. */
export interface CompiledGatewayOptions {
  readonly stateDir: string;
  readonly ordersListen: string;
  readonly controlListen: string;
  /** Undefined when insecure. */
  readonly keyPair: CurveKeyPair | undefined;
  readonly orchestratorKeys: readonly string[];
  readonly config: GatewayConfig;
  readonly marketData: readonly string[] | undefined;
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
  readonly passThrough: boolean;
  readonly unboundOrderKeys: readonly string[];
}

/** Checks the options and fills defaults; loads (or creates) the key pair. */
export function compileGatewayOptions(o: GatewayOptions): CompiledGatewayOptions {
  const insecure = o.insecure === true;
  for (const [flag, address] of [
    ["orders", o.ordersListen],
    ["control", o.controlListen],
  ] as const) {
    if (!/^tcp:\/\/[^:]+:\d{1,5}$/.test(address))
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `--${flag}: found "${address}", expected tcp://host:port`,
      );
  }
  let keyPair: CurveKeyPair | undefined;
  if (!insecure) {
    if (o.keyPair !== undefined) keyPair = o.keyPair;
    else if (o.keysDir !== undefined) keyPair = loadOrCreateKeyPair(keyPairPath(o.keysDir));
    else
      throw new HiveError(
        ErrorCode.InvalidArgument,
        "--keys: missing, expected the directory of the gateway's CURVE key pair (or --insecure)",
      );
    if ((o.orchestratorKeys ?? []).length === 0)
      throw new HiveError(
        ErrorCode.InvalidArgument,
        "--orchestrator-key: missing, expected the orchestrator's CURVE public key (or --insecure)",
      );
  }
  for (const key of o.orchestratorKeys ?? [])
    if (!isZ85Key(key))
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `--orchestrator-key: found "${key}", expected a Z85 public key`,
      );
  for (const key of o.unboundOrderKeys ?? [])
    if (!isZ85Key(key))
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `unboundOrderKeys: found "${key}", expected a Z85 public key`,
      );
  return {
    stateDir: o.stateDir,
    ordersListen: o.ordersListen,
    controlListen: o.controlListen,
    keyPair,
    orchestratorKeys: o.orchestratorKeys ?? [],
    config:
      o.config === undefined
        ? defaultGatewayConfig()
        : "accountLimits" in o.config && o.config.accountLimits instanceof Map
          ? o.config
          : compileGatewayConfig(o.config),
    marketData: o.marketData,
    metricsListen: o.metricsListen,
    passThrough: o.passThrough === true,
    unboundOrderKeys: o.unboundOrderKeys ?? [],
  };
}
