import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { AsyncQueue } from "../core/async-queue.ts";
import { HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import {
  OrchestratorMessageSchema,
  Pool,
  PROTOCOL_VERSION,
  isCompatibleProtocol,
  type BootstrapRequest,
  type BootstrapResponse,
  type OrchestratorMessage,
  type Register,
  type RunnerMessage,
  type RunnerService,
} from "../protocol/index.ts";
import type { PeerIdentity } from "../security/pki/index.ts";
import { RunnerSession } from "./runner-session.ts";

/**
 * Whether a heartbeat is acknowledged (its HeartbeatAck renews the runner's lease) or not: a node
 * the orchestrator has declared down gets no renewal until it registers again.
 */
export type HeartbeatVerdict = "ack" | "withhold";

/** What the orchestrator does with runner streams. */
export interface RunnerStreamHandler {
  /** Accepts (returning the lease timings) or refuses a registration, with a reason. */
  onRegister(
    register: Register,
    session: RunnerSession,
  ): { accepted: true } | { accepted: false; reason: string };
  /** Answers a Bootstrap (a join token and a CSR for a node certificate); absent: not offered. */
  bootstrap?: (request: BootstrapRequest, peer: string) => Promise<BootstrapResponse>;
  /**
   * Every later message of the runner, in order. For a heartbeat, "withhold" says not to
   * acknowledge it; anything else (void included) acknowledges it.
   */
  onMessage(nodeId: string, session: RunnerSession, message: RunnerMessage): HeartbeatVerdict | void;
  /** The stream ended. */
  onClose(nodeId: string, session: RunnerSession): void;
}

/** Options of the runner service. */
export interface RunnerServiceOptions {
  readonly joinToken: string;
  readonly heartbeatIntervalMs: number;
  readonly leaseTtlMs: number;
  /** Where a stream ended by an error is told (with its node); none: not logged. */
  readonly log?: Logger;
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
 * Who the transport says is at the other end of a stream: the node of its verified client
 * certificate, the reason it has none that counts, or undefined on a cleartext or in-process
 * link (loopback only, see orchestrator-options.ts).
 */
export type PeerCredential = PeerIdentity | { readonly refused: string } | undefined;

/**
 * Why a Register is refused given its peer's certificate, or undefined. Over TLS the node id is
 * the certificate's: a Register naming another node is refused, whatever else it says.
 */
export function checkPeer(r: Register, peer: PeerCredential): string | undefined {
  if (peer === undefined) return undefined;
  if ("refused" in peer) return `no valid client certificate: ${peer.refused}`;
  if (r.nodeId !== peer.nodeId) {
    return `the Register names node "${r.nodeId}", but the client certificate is node "${peer.nodeId}"'s`;
  }
  return undefined;
}

/** Where a runner stream's answers go: the response half of one stream. */
export interface Outbox {
  push(message: OrchestratorMessage): void;
  /** Ends the response once what was pushed has gone. */
  close(): void;
}

/**
 * One runner stream on the orchestrator's side, driven by events so that any transport can carry
 * it (Connect's async iterables in process, grpc-js callbacks on the network). The first message
 * must be a Register; it is answered with a RegisterAck, then every Heartbeat the handler does
 * not withhold with a HeartbeatAck (the lease renewal the runner's silence watchdog and
 * self-fencing rely on), sent after whatever the handler sent for that heartbeat (a close of an
 * order path goes before the renewal).
 */
export class RunnerStream {
  private session: RunnerSession | undefined;
  private ended = false;

  constructor(
    private readonly handler: RunnerStreamHandler,
    private readonly options: RunnerServiceOptions,
    private readonly outbox: Outbox,
    /** The peer's certificate, over TLS; undefined on a cleartext or in-process link. */
    private readonly peer: PeerCredential = undefined,
    /** The peer's address, for the log of a refusal. */
    private readonly peerAddress = "",
  ) {}

  /** The runner's next message, in order. */
  receive(message: RunnerMessage): void {
    if (this.ended) return;
    const session = this.session;
    if (session === undefined) {
      this.register(message);
      return;
    }
    const m = message.message;
    try {
      const verdict = this.handler.onMessage(session.nodeId, session, message);
      if (m.case === "heartbeat" && verdict !== "withhold" && session.open) {
        session.send({
          case: "heartbeatAck",
          value: { seq: m.value.seq, leaseTtlMs: this.options.leaseTtlMs },
        });
      }
    } catch (err) {
      // A message the orchestrator cannot take ends the stream; the runner registers again.
      this.options.log?.warn(
        { nodeId: session.nodeId, message: message.message.case, err: HiveError.from(err).message },
        "runner message not taken; ending its stream",
      );
      this.end();
    }
  }

  /** The runner's half ended or broke: the session closes, and with it the response. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const session = this.session;
    if (session === undefined) {
      this.outbox.close();
      return;
    }
    session.close("stream ended");
    this.handler.onClose(session.nodeId, session);
  }

  private register(first: RunnerMessage): void {
    if (first.message.case !== "register") {
      this.refuse(`the first message must be a Register, not ${first.message.case}`);
      return;
    }
    const register = first.message.value;
    // What the handler sends while it decides waits, so that the RegisterAck goes first.
    const held: OrchestratorMessage[] = [];
    let holding = true;
    const peer = this.peer;
    const session = new RunnerSession(
      register.nodeId,
      {
        push: (m) => {
          if (holding) held.push(m);
          else this.outbox.push(m);
        },
        close: () => this.outbox.close(),
      },
      undefined,
      undefined,
      peer !== undefined && "keyFingerprint" in peer ? peer.keyFingerprint : undefined,
    );
    // The certificate first: nothing a peer without one says reaches the orchestrator.
    const refusal = checkPeer(register, peer) ?? checkRegistration(register, this.options.joinToken);
    const verdict = refusal
      ? { accepted: false as const, reason: refusal }
      : this.handler.onRegister(register, session);
    if (!verdict.accepted) {
      this.options.log?.warn(
        {
          nodeId: register.nodeId,
          certificate: peer === undefined ? "none (cleartext)" : "nodeId" in peer ? peer.nodeId : "invalid",
          peer: this.peerAddress,
          reason: verdict.reason,
        },
        "runner registration refused",
      );
      this.refuse(verdict.reason);
      return;
    }
    this.outbox.push(ack(true, "", this.options));
    holding = false;
    for (const m of held) this.outbox.push(m);
    this.session = session;
  }

  private refuse(reason: string): void {
    this.outbox.push(ack(false, reason, this.options));
    this.end();
  }
}

/**
 * The runner protocol as a Connect service: the in-process transport of {@link LocalRuntime}
 * uses it (remote runners reach the same {@link RunnerStream} through grpc-js, see
 * runner-grpc-server.ts).
 */
export function runnerService(
  handler: RunnerStreamHandler,
  options: RunnerServiceOptions,
): ServiceImpl<typeof RunnerService> {
  return {
    bootstrap(request) {
      if (handler.bootstrap === undefined) {
        throw new ConnectError("this orchestrator signs no certificates", Code.Unimplemented);
      }
      return handler.bootstrap(request, "in-process");
    },
    async *connect(requests) {
      const outgoing = new AsyncQueue<OrchestratorMessage>();
      const stream = new RunnerStream(handler, options, outgoing);
      const pump = (async () => {
        try {
          for await (const message of requests) stream.receive(message);
        } catch (err) {
          // The runner went away; the stream ends below (and the orchestrator logs its end).
          options.log?.debug({ err: HiveError.from(err).message }, "runner request stream broke");
        } finally {
          stream.end();
        }
      })();
      try {
        yield* outgoing;
      } finally {
        stream.end();
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
