import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { AsyncQueue } from "../core/async-queue.ts";
import {
  OrchestratorMessageSchema,
  Pool,
  PROTOCOL_VERSION,
  isCompatibleProtocol,
  type OrchestratorMessage,
  type Register,
  type RunnerMessage,
  type RunnerService,
} from "../protocol/index.ts";
import { RunnerSession } from "./runner-session.ts";

/** What the orchestrator does with runner streams. */
export interface RunnerStreamHandler {
  /** Accepts (returning the lease timings) or refuses a registration, with a reason. */
  onRegister(
    register: Register,
    session: RunnerSession,
  ): { accepted: true } | { accepted: false; reason: string };
  /** Every later message of the runner, in order. */
  onMessage(nodeId: string, session: RunnerSession, message: RunnerMessage): void;
  /** The stream ended. */
  onClose(nodeId: string, session: RunnerSession): void;
}

/** Options of the runner service. */
export interface RunnerServiceOptions {
  readonly joinToken: string;
  readonly heartbeatIntervalMs: number;
  readonly leaseTtlMs: number;
}

/** Why a registration is refused before the orchestrator looks at it, or undefined. */
export function checkRegistration(r: Register, joinToken: string): string | undefined {
  if (!isCompatibleProtocol(r.protocolVersion)) {
    return `runner speaks protocol version ${r.protocolVersion}; this orchestrator speaks ${PROTOCOL_VERSION}`;
  }
  if (joinToken !== "" && r.joinToken !== joinToken) return "bad join token";
  if (r.nodeId === "") return "no node id";
  if (r.pool !== Pool.LIVE && r.pool !== Pool.BACKTEST)
    return "no pool (live or backtest): there is no default pool";
  return undefined;
}

/**
 * The runner protocol's server side: one stream per runner, opened by the runner. The first
 * message must be a Register; it is answered with a RegisterAck, then every Heartbeat with a
 * HeartbeatAck (the lease renewal the runner's silence watchdog and self-fencing rely on).
 */
export function runnerService(
  handler: RunnerStreamHandler,
  options: RunnerServiceOptions,
): ServiceImpl<typeof RunnerService> {
  return {
    async *connect(requests) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done) return;
      if (first.value.message.case !== "register") {
        yield ack(false, `the first message must be a Register, not ${first.value.message.case}`, options);
        return;
      }
      const register = first.value.message.value;
      const outgoing = new AsyncQueue<OrchestratorMessage>();
      const session = new RunnerSession(register.nodeId, outgoing);
      const refusal = checkRegistration(register, options.joinToken);
      const verdict = refusal
        ? { accepted: false as const, reason: refusal }
        : handler.onRegister(register, session);
      if (!verdict.accepted) {
        yield ack(false, verdict.reason, options);
        return;
      }
      yield ack(true, "", options);
      const pump = (async () => {
        try {
          for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
            const m = r.value.message;
            if (m.case === "heartbeat" && session.open) {
              session.send({
                case: "heartbeatAck",
                value: { seq: m.value.seq, leaseTtlMs: options.leaseTtlMs },
              });
            }
            handler.onMessage(register.nodeId, session, r.value);
          }
        } catch {
          // The runner went away; the session ends below.
        } finally {
          session.close("stream ended");
          handler.onClose(register.nodeId, session);
        }
      })();
      try {
        yield* outgoing;
      } finally {
        session.close("stream ended");
        // Not awaited: the runner's request stream ends only once this response has ended.
        void pump;
      }
    },
  };
}

function ack(accepted: boolean, reason: string, o: RunnerServiceOptions): OrchestratorMessage {
  return create(OrchestratorMessageSchema, {
    message: {
      case: "registerAck",
      value: {
        accepted,
        reason,
        protocolVersion: PROTOCOL_VERSION,
        heartbeatIntervalMs: o.heartbeatIntervalMs,
        leaseTtlMs: o.leaseTtlMs,
      },
    },
  });
}
