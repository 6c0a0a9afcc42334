/**
 * The control channel's wire format and the dispatch of one request. A request is one JSON frame
 * `{id, op, controller?, ...args}`; the answer is one JSON frame `{id, ok: true, result}` or
 * `{id, ok: false, code, error}` (code: a HiveError code; a refusal for being another controller
 * adds `reason: "wrong-controller", holder, caller`). Epochs travel as decimal strings.
 *
 *   op          args                               result
 *   fence       account, deploymentId, epoch,      FenceResult (a refused fence is ok: true, result.ok: false,
 *               nodeKey?                           with highestEpoch; ordersPort: the port of nodeKey's socket)
 *   nodes       -                                  {nodes: {publicKey: port}} (the admitted node keys)
 *   kill        account, reason                    {cancelled}
 *   unkill      account                            {}
 *   accounts    account?                           {accounts: AccountView[]}
 *   marketData  sources: string[]                  {}
 *   status      -                                  GatewayStatus (with its controller)
 *   audit       afterSeq?, limit?, account?        {records: AuditRecord[]} (the rows not archived yet)
 *   reassign    from, by?                          ReassignResult (the caller becomes the controller)
 *
 * `controller` is the cluster id of the orchestrator sending the request. The steering ops
 * (fence, kill, unkill, marketData: controller-record.ts) pass only from the gateway's recorded
 * controller, checked before anything else is read; the first fence applied records it
 * (controller-guard.ts). `reassign` needs `controller` and moves the record to it.
 *
 * Dispatch runs inside the gateway loop's batch transaction, so a fence's write commits before
 * its answer is sent. There is no op to admit or revoke a node key: a key is admitted while a
 * fence names it (node-sockets.ts), so the fence table is the one list of who may send orders.
 */
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { AuditQuery, AuditRecord } from "./audit.ts";
import type { ControllerGuard } from "./controller-guard.ts";
import {
  MAX_CLUSTER_ID_LENGTH,
  WRONG_CONTROLLER,
  WrongControllerError,
  type ReassignResult,
} from "./controller-record.ts";
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
  "reassign",
] as const;

/** One of {@link CONTROL_OPS}. */
export type ControlOp = (typeof CONTROL_OPS)[number];

/** An answer frame. */
export type ControlAnswer =
  | { readonly id: string; readonly ok: true; readonly result: unknown }
  | {
      readonly id: string;
      readonly ok: false;
      readonly code: string;
      readonly error: string;
      /** `wrong-controller` for a steering op from another controller (then holder and caller). */
      readonly reason?: string;
      readonly holder?: string;
      readonly caller?: string | null;
    };

/** What dispatch needs besides the core. */
export interface ControlDeps {
  readonly core: GatewayCore;
  /** Replaces the market-data sources (and persists them). */
  readonly setMarketData: (sources: readonly string[]) => void;
  readonly readAudit: (query: AuditQuery) => AuditRecord[];
  /** The admitted node keys and their orders ports. */
  readonly nodePorts: () => Record<string, number>;
  /** Who steers this gateway (controller-guard.ts). */
  readonly controller: ControllerGuard;
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
  const caller = controllerArg(args);
  deps.controller.check(op, caller);
  switch (op) {
    case "fence": {
      const result = core.fence(
        text(args, "account"),
        text(args, "deploymentId"),
        epochArg(args),
        optionalText(args, "nodeKey") ?? null,
      );
      if (!result.ok) return { ...result, highestEpoch: highestEpoch(core).toString() };
      deps.controller.fenced(caller);
      return result;
    }
    case "reassign": {
      if (caller === null)
        throw new HiveError(
          ErrorCode.InvalidArgument,
          "reassign: controller: expected the caller's cluster id",
        );
      const by = typeof args.by === "string" ? args.by.slice(0, 200) : "";
      const previous = deps.controller.reassign(caller, text(args, "from"), by);
      const answer: ReassignResult = {
        previous,
        controller: deps.controller.view() ?? { clusterId: caller, sinceUnixMs: 0 },
        highestEpoch: highestEpoch(core).toString(),
      };
      return answer;
    }
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
      return {
        ...core.status(),
        controller: deps.controller.view(),
        controllerRefusals: deps.controller.refused,
      };
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

/** The request's `controller`: a cluster id, or null when it names none. */
function controllerArg(args: Args): string | null {
  const value = args.controller;
  if (value === undefined) return null;
  if (
    typeof value !== "string" ||
    value === "" ||
    value.length > MAX_CLUSTER_ID_LENGTH ||
    !/^[\x21-\x7e]+$/.test(value)
  )
    throw new HiveError(
      ErrorCode.InvalidArgument,
      `controller: expected a cluster id (printable, at most ${MAX_CLUSTER_ID_LENGTH} characters)`,
    );
  return value;
}

/** The highest epoch of any fence the gateway holds; 0n with none. */
function highestEpoch(core: GatewayCore): bigint {
  let highest = 0n;
  for (const a of core.accounts())
    if (a.fence !== null && BigInt(a.fence.epoch) > highest) highest = BigInt(a.fence.epoch);
  return highest;
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
  if (err instanceof WrongControllerError)
    return {
      id,
      ok: false,
      code: err.code,
      error: err.message,
      reason: WRONG_CONTROLLER,
      holder: err.holder,
      caller: err.caller,
    };
  return { id, ok: false, code: err.code, error: err.message };
}
