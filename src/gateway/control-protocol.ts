/**
 * The control channel's wire format and the dispatch of one request. A request is one JSON frame
 * `{id, op, ...args}`; the answer is one JSON frame `{id, ok: true, result}` or
 * `{id, ok: false, code, error}` (code: a HiveError code). Epochs travel as decimal strings.
 *
 *   op          args                               result
 *   fence       account, deploymentId, epoch,      FenceResult (a refused fence is ok: true, result.ok: false;
 *               nodeKey?                           ordersPort: the port of nodeKey's orders socket)
 *   nodes       -                                  {nodes: {publicKey: port}} (the admitted node keys)
 *   kill        account, reason                    {cancelled}
 *   unkill      account                            {}
 *   accounts    account?                           {accounts: AccountView[]}
 *   marketData  sources: string[]                  {}
 *   status      -                                  GatewayStatus
 *   audit       afterSeq?, limit?, account?        {records: AuditRecord[]} (the rows not archived yet)
 *
 * Dispatch runs inside the gateway loop's batch transaction, so a fence's write commits before
 * its answer is sent. There is no op to admit or revoke a node key: a key is admitted while a
 * fence names it (node-sockets.ts), so the fence table is the one list of who may send orders.
 */
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { AuditQuery, AuditRecord } from "./audit.ts";
import type { GatewayCore } from "./gateway-core.ts";

/** The ops of the control channel. */
export const CONTROL_OPS = [
  "fence",
  "nodes",
  "kill",
  "unkill",
  "accounts",
  "marketData",
  "status",
  "audit",
] as const;

/** One of {@link CONTROL_OPS}. */
export type ControlOp = (typeof CONTROL_OPS)[number];

/** An answer frame. */
export type ControlAnswer =
  | { readonly id: string; readonly ok: true; readonly result: unknown }
  | { readonly id: string; readonly ok: false; readonly code: string; readonly error: string };

/** What dispatch needs besides the core. */
export interface ControlDeps {
  readonly core: GatewayCore;
  /** Replaces the market-data sources (and persists them). */
  readonly setMarketData: (sources: readonly string[]) => void;
  readonly readAudit: (query: AuditQuery) => AuditRecord[];
  /** The admitted node keys and their orders ports. */
  readonly nodePorts: () => Record<string, number>;
}

type Args = Record<string, unknown>;

/** Reads a request frame and answers it. Never throws: every failure is an error answer. */
export function handleControl(frame: Buffer, deps: ControlDeps): ControlAnswer {
  let request: unknown;
  try {
    request = JSON.parse(frame.toString());
  } catch {
    return fail(
      "",
      new HiveError(ErrorCode.InvalidArgument, "control request: not JSON; expected {id, op, ...}"),
    );
  }
  if (typeof request !== "object" || request === null || Array.isArray(request))
    return fail(
      "",
      new HiveError(ErrorCode.InvalidArgument, "control request: expected a JSON object {id, op, ...}"),
    );
  const args = request as Args;
  const id = typeof args.id === "string" || typeof args.id === "number" ? String(args.id) : "";
  try {
    return { id, ok: true, result: dispatch(args, deps) };
  } catch (err) {
    return fail(id, HiveError.from(err));
  }
}

function dispatch(args: Args, deps: ControlDeps): unknown {
  const { core } = deps;
  const op = args.op as ControlOp;
  switch (op) {
    case "fence":
      return core.fence(
        text(args, "account"),
        text(args, "deploymentId"),
        epochArg(args),
        optionalText(args, "nodeKey") ?? null,
      );
    case "nodes":
      return { nodes: deps.nodePorts() };
    case "kill":
      return core.kill(text(args, "account"), typeof args.reason === "string" ? args.reason : "");
    case "unkill":
      core.unkill(text(args, "account"));
      return {};
    case "accounts":
      return { accounts: core.accounts(optionalText(args, "account")) };
    case "marketData": {
      const sources = args.sources;
      if (!Array.isArray(sources) || !sources.every((s) => typeof s === "string" && /^tcp:\/\//.test(s)))
        throw new HiveError(
          ErrorCode.InvalidArgument,
          "marketData: sources: expected a list of tcp:// addresses",
        );
      deps.setMarketData(sources as string[]);
      return {};
    }
    case "status":
      return core.status();
    case "audit": {
      // SQLite reads a negative LIMIT as none: the whole table, on the thread that decides orders.
      const limit = args.limit ?? 1_000;
      if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1)
        throw new HiveError(
          ErrorCode.InvalidArgument,
          `audit: limit: found ${JSON.stringify(limit)}, expected a whole number from 1 (at most 10,000 are read)`,
        );
      return {
        records: deps.readAudit({
          afterSeq: typeof args.afterSeq === "number" ? args.afterSeq : 0,
          limit: Math.min(limit, 10_000),
          account: optionalText(args, "account"),
        }),
      };
    }
    default:
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `op: found ${JSON.stringify(args.op)}, expected one of ${CONTROL_OPS.join(", ")}`,
      );
  }
}

function text(args: Args, name: string): string {
  const value = args[name];
  if (typeof value !== "string" || value === "")
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `${String(args.op)}: ${name}: expected a non-empty string`,
    );
  return value;
}

function optionalText(args: Args, name: string): string | undefined {
  return args[name] === undefined ? undefined : text(args, name);
}

function epochArg(args: Args): bigint {
  const value = args.epoch;
  if (
    typeof value !== "string" ||
    !/^(0|[1-9][0-9]{0,19})$/.test(value) ||
    BigInt(value) > 0xffff_ffff_ffff_ffffn
  )
    throw new HiveError(ErrorCode.InvalidArgument, "fence: epoch: expected a uint64 as a decimal string");
  return BigInt(value);
}

function fail(id: string, err: HiveError): ControlAnswer {
  return { id, ok: false, code: err.code, error: err.message };
}
