/**
 * `GatewayClient`: the orchestrator's end of the control channel (GatewayControl over ZeroMQ).
 * One DEALER, a CURVE client with its own key pair and the gateway's public key; requests carry
 * ids, and answers are matched by id, so calls may overlap.
 *
 * Timeouts and restarts: the DEALER queues only on completed connections (ZMQ_IMMEDIATE), so a
 * request made while the gateway is down waits for a connection for at most the call's timeout and
 * is never delivered late, after the caller gave up; ZeroMQ reconnects on its own, so the next
 * call after the gateway is back works. A call that times out rejects with
 * HiveError(unavailable), or permission_denied if the gateway refused our key in the meantime.
 * A refused fence is an answer, not an error: it resolves `{ok: false, reason, current}`.
 *
 * Every request names `controller` (this orchestrator's cluster id) when one is given; a steering
 * op the gateway refuses for coming from another controller rejects with WrongControllerError.
 */
import * as zmq from "zeromq";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { AuditQuery, AuditRecord } from "./audit.ts";
import type { ControlOp } from "./control-protocol.ts";
import { WRONG_CONTROLLER, WrongControllerError, type ReassignResult } from "./controller-record.ts";
import type { AccountView, FenceResult, GatewayControl, GatewayStatus } from "./gateway-control.ts";
import type { CurveKeyPair } from "../core/z85.ts";

/** Options of {@link GatewayClient}. */
export interface GatewayClientOptions {
  /** The gateway's control address, tcp://host:port. */
  readonly address: string;
  /** The gateway's CURVE public key (Z85); undefined for a gateway run with --insecure. */
  readonly serverKey?: string;
  /** This client's key pair; required with `serverKey`. */
  readonly keys?: CurveKeyPair;
  /** Per-call timeout (default 2000 ms). */
  readonly timeoutMs?: number;
  /** The cluster id every request names as its controller (the orchestrator's store's). */
  readonly controller?: string;
}

interface Pending {
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: HiveError) => void;
  readonly timer: NodeJS.Timeout;
  readonly startedAt: number;
  settled: boolean;
}

/** See the file comment. */
export class GatewayClient implements GatewayControl {
  readonly #address: string;
  readonly #timeoutMs: number;
  readonly #controller: string | undefined;
  readonly #dealer: zmq.Dealer;
  readonly #pending = new Map<string, Pending>();
  readonly #reader: Promise<void>;
  #nextId = 1;
  /** Sends one at a time: a zeromq.js socket allows one send in progress. */
  #sending: Promise<void> = Promise.resolve();
  #authRefusedAt = Number.NEGATIVE_INFINITY;
  #closed = false;
  /** Answers that were not JSON, and so matched no call. */
  unreadableAnswers = 0;

  constructor(options: GatewayClientOptions) {
    this.#address = options.address;
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    this.#controller = options.controller;
    if (options.serverKey !== undefined && options.keys === undefined)
      throw new HiveError(
        ErrorCode.InvalidArgument,
        `gateway ${options.address}: a server key needs a client key pair`,
      );
    const curve =
      options.serverKey === undefined || options.keys === undefined
        ? {}
        : {
            curveServerKey: options.serverKey,
            curvePublicKey: options.keys.publicKey,
            curveSecretKey: options.keys.secretKey,
          };
    this.#dealer = new zmq.Dealer({
      linger: 0,
      immediate: true,
      sendTimeout: this.#timeoutMs,
      reconnectInterval: 100,
      reconnectMaxInterval: 1_000,
      ...curve,
    });
    this.#dealer.events.on("handshake:error:auth", () => {
      this.#authRefusedAt = performance.now();
    });
    this.#dealer.connect(options.address);
    this.#reader = this.#read();
  }

  fence(account: string, deploymentId: string, epoch: bigint, nodeKey?: string): Promise<FenceResult> {
    return this.#call("fence", {
      account,
      deploymentId,
      epoch: epoch.toString(),
      ...(nodeKey === undefined ? {} : { nodeKey }),
    }) as Promise<FenceResult>;
  }

  kill(account: string, reason: string): Promise<{ readonly cancelled: number }> {
    return this.#call("kill", { account, reason }) as Promise<{ cancelled: number }>;
  }

  async nodes(): Promise<Readonly<Record<string, number>>> {
    return ((await this.#call("nodes", {})) as { nodes: Record<string, number> }).nodes;
  }

  async unkill(account: string): Promise<void> {
    await this.#call("unkill", { account });
  }

  async accounts(account?: string): Promise<readonly AccountView[]> {
    const result = (await this.#call("accounts", account === undefined ? {} : { account })) as {
      accounts: AccountView[];
    };
    return result.accounts;
  }

  async marketData(sources: readonly string[]): Promise<void> {
    await this.#call("marketData", { sources });
  }

  status(): Promise<GatewayStatus> {
    return this.#call("status", {}) as Promise<GatewayStatus>;
  }

  reassign(from: string, by?: string): Promise<ReassignResult> {
    return this.#call("reassign", { from, ...(by === undefined ? {} : { by }) }) as Promise<ReassignResult>;
  }

  /** Audit rows after `afterSeq` (at most `limit`, default 1000). */
  async audit(query: AuditQuery = {}): Promise<AuditRecord[]> {
    return ((await this.#call("audit", { ...query })) as { records: AuditRecord[] }).records;
  }

  /** Fails every call in flight and closes the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, p] of this.#pending)
      this.#settle(id, p, new HiveError(ErrorCode.Unavailable, "gateway client closed"));
    this.#dealer.close();
    await this.#reader;
    await this.#sending;
  }

  #call(op: ControlOp, args: Record<string, unknown>): Promise<unknown> {
    if (this.#closed)
      return Promise.reject(
        new HiveError(ErrorCode.FailedPrecondition, `gateway ${this.#address}: client closed`),
      );
    const id = String(this.#nextId++);
    const controller = this.#controller === undefined ? {} : { controller: this.#controller };
    const frame = JSON.stringify({ id, op, ...controller, ...args });
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        resolve,
        reject,
        startedAt: performance.now(),
        settled: false,
        timer: setTimeout(() => this.#settle(id, pending, this.#timeoutError(op, pending)), this.#timeoutMs),
      };
      this.#pending.set(id, pending);
      this.#sending = this.#sending.then(() => this.#send(id, pending, frame));
    });
  }

  async #send(id: string, pending: Pending, frame: string): Promise<void> {
    if (pending.settled || this.#closed) return;
    try {
      await this.#dealer.send(frame);
    } catch (err) {
      // EAGAIN after sendTimeout: no connection completed; the timer reports it (or has).
      if (!this.#closed && !pending.settled)
        this.#settle(id, pending, this.#timeoutError("send", pending, err));
    }
  }

  async #read(): Promise<void> {
    try {
      for await (const [frame] of this.#dealer) {
        let answer: {
          id?: unknown;
          ok?: unknown;
          result?: unknown;
          code?: unknown;
          error?: unknown;
          reason?: unknown;
          holder?: unknown;
          caller?: unknown;
        };
        try {
          answer = JSON.parse(frame?.toString() ?? "") as typeof answer;
        } catch {
          // Not from a gateway of ours: counted; the call it may have answered times out.
          this.unreadableAnswers += 1;
          continue;
        }
        const id = String(answer.id);
        const pending = this.#pending.get(id);
        if (pending === undefined) continue; // answered after its timeout
        const message = `gateway ${this.#address}: ${String(answer.error)}`;
        if (answer.ok === true) this.#settle(id, pending, undefined, answer.result);
        else if (answer.reason === WRONG_CONTROLLER && typeof answer.holder === "string")
          this.#settle(
            id,
            pending,
            new WrongControllerError(
              answer.holder,
              typeof answer.caller === "string" ? answer.caller : null,
              message,
            ),
          );
        else this.#settle(id, pending, new HiveError(errorCode(answer.code), message));
      }
    } catch (err) {
      if (!this.#dealer.closed) {
        for (const [id, p] of this.#pending) this.#settle(id, p, HiveError.from(err, ErrorCode.Unavailable));
      }
    }
  }

  #settle(id: string, pending: Pending, error: HiveError | undefined, result?: unknown): void {
    if (pending.settled) return;
    pending.settled = true;
    clearTimeout(pending.timer);
    this.#pending.delete(id);
    if (error !== undefined) pending.reject(error);
    else pending.resolve(result);
  }

  #timeoutError(op: string, pending: Pending, cause?: unknown): HiveError {
    if (this.#authRefusedAt >= pending.startedAt - this.#timeoutMs)
      return new HiveError(
        ErrorCode.PermissionDenied,
        `gateway ${this.#address}: refused this client's CURVE key (is it among the gateway's --orchestrator-key?)`,
        { cause },
      );
    return new HiveError(
      ErrorCode.Unavailable,
      `gateway ${this.#address}: no answer to ${op} within ${this.#timeoutMs} ms`,
      { cause },
    );
  }
}

function errorCode(code: unknown): ErrorCode {
  const known = Object.values(ErrorCode) as unknown[];
  return known.includes(code) ? (code as ErrorCode) : ErrorCode.Internal;
}
