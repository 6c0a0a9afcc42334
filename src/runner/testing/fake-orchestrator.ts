import { EventEmitter, once } from "node:events";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AsyncQueue } from "../../core/async-queue.ts";
import { HiveError } from "../../core/hive-error.ts";
import {
  OrchestratorMessageSchema,
  PROTOCOL_VERSION,
  RunnerService,
  type OrchestratorMessage,
  type Register,
  type RunnerMessage,
} from "../../protocol/index.ts";

type Payload = RunnerMessage["message"];
/** The kinds of message a runner sends. */
export type RunnerMessageKind = NonNullable<Payload["case"]>;
/** The value carried by a runner message of kind C. */
export type RunnerMessageValue<C extends RunnerMessageKind> = Extract<Payload, { case: C }>["value"];

/** One runner's stream as the fake orchestrator sees it. */
export class FakeOrchestratorSession extends EventEmitter {
  /** Every message received after Register, in order. */
  readonly received: RunnerMessage[] = [];
  /** Whether the runner's stream is still open. */
  open = true;

  constructor(
    readonly register: Register,
    private readonly outgoing: AsyncQueue<OrchestratorMessage>,
  ) {
    super();
  }

  /** Sends one message to the runner. */
  send(message: NonNullable<MessageInitShape<typeof OrchestratorMessageSchema>["message"]>): void {
    this.outgoing.push(create(OrchestratorMessageSchema, { message }));
  }

  /** Ends the stream from the orchestrator's side. */
  end(): void {
    this.outgoing.close();
  }

  /** The first message of this kind (already received or future) that matches. */
  async next<C extends RunnerMessageKind>(
    kind: C,
    match: (value: RunnerMessageValue<C>) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<RunnerMessageValue<C>> {
    const test = (m: RunnerMessage) =>
      m.message.case === kind && match(m.message.value as unknown as RunnerMessageValue<C>);
    const seen = this.received.find(test);
    if (seen) return seen.message.value as unknown as RunnerMessageValue<C>;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      for (;;) {
        const [m] = (await once(this, "message", { signal })) as [RunnerMessage];
        if (test(m)) return m.message.value as unknown as RunnerMessageValue<C>;
      }
    } catch (err) {
      if (signal.aborted)
        throw new HiveError("unavailable", `no ${kind} from ${this.register.nodeId} in ${timeoutMs} ms`);
      throw err;
    }
  }

  /** Records a message. */
  deliver(m: RunnerMessage): void {
    this.received.push(m);
    this.emit("message", m);
  }
}

/** Options of the fake orchestrator. */
export interface FakeOrchestratorOptions {
  /** Decides registration; by default every runner of the right protocol version is accepted. */
  readonly accept?: (register: Register) => { accepted: boolean; reason?: string };
  readonly heartbeatIntervalMs?: number;
  readonly leaseTtlMs?: number;
  /** Answer every heartbeat with a HeartbeatAck, as the orchestrator does (default true). */
  readonly ackHeartbeats?: boolean;
  /** Port to listen on (0, the default, picks a free one). */
  readonly port?: number;
}

/**
 * A minimal orchestrator for runner tests: it serves the real runner protocol over HTTP/2 on
 * loopback, accepts registrations, records what runners send and lets a test send them anything.
 */
export class FakeOrchestrator extends EventEmitter {
  /** The latest session of each node id. */
  readonly sessions = new Map<string, FakeOrchestratorSession>();
  /** Every Register received, accepted or not. */
  readonly registrations: Register[] = [];
  private server: http2.Http2Server | undefined;
  private readonly connections = new Set<http2.ServerHttp2Session>();
  private urlValue = "";
  /** Whether heartbeats are answered now (a test turns it off to let runners' leases run out). */
  ackHeartbeats = true;

  /** Starts a stub on 127.0.0.1 and a free port. */
  static async start(options: FakeOrchestratorOptions = {}): Promise<FakeOrchestrator> {
    const stub = new FakeOrchestrator();
    // Every waitForRunner is an events.once listener: a test waiting for many runners at once is
    // not a leak.
    stub.setMaxListeners(0);
    stub.ackHeartbeats = options.ackHeartbeats !== false;
    const server = http2.createServer(
      connectNodeAdapter({
        routes: (router) =>
          router.service(RunnerService, { connect: (requests) => stub.handle(requests, options) }),
      }),
    );
    server.on("session", (session) => {
      stub.connections.add(session);
      session.once("close", () => stub.connections.delete(session));
    });
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
    stub.server = server;
    stub.urlValue = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return stub;
  }

  /** The base URL runners connect to. */
  get url(): string {
    return this.urlValue;
  }

  /** Waits until a runner with this node id has an open session other than `previous`. */
  async waitForRunner(
    nodeId: string,
    previous?: FakeOrchestratorSession,
    timeoutMs = 10_000,
  ): Promise<FakeOrchestratorSession> {
    const current = this.sessions.get(nodeId);
    if (current && current !== previous && current.open) return current;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      for (;;) {
        const [s] = (await once(this, "session", { signal })) as [FakeOrchestratorSession];
        if (s.register.nodeId === nodeId && s !== previous) return s;
      }
    } catch (err) {
      if (signal.aborted)
        throw new HiveError("unavailable", `runner ${nodeId} did not register in ${timeoutMs} ms`);
      throw err;
    }
  }

  private async *handle(requests: AsyncIterable<RunnerMessage>, options: FakeOrchestratorOptions) {
    const iterator = requests[Symbol.asyncIterator]();
    const first = await iterator.next();
    if (first.done || first.value.message.case !== "register") return;
    const register = first.value.message.value;
    this.registrations.push(register);
    const verdict =
      register.protocolVersion !== PROTOCOL_VERSION
        ? {
            accepted: false,
            reason: `protocol version ${register.protocolVersion} is not ${PROTOCOL_VERSION}`,
          }
        : (options.accept?.(register) ?? { accepted: true });
    yield create(OrchestratorMessageSchema, {
      message: {
        case: "registerAck",
        value: {
          accepted: verdict.accepted,
          reason: verdict.reason ?? "",
          protocolVersion: PROTOCOL_VERSION,
          heartbeatIntervalMs: options.heartbeatIntervalMs ?? 200,
          leaseTtlMs: options.leaseTtlMs ?? 2_000,
        },
      },
    });
    if (!verdict.accepted) return;
    const outgoing = new AsyncQueue<OrchestratorMessage>();
    const session = new FakeOrchestratorSession(register, outgoing);
    this.sessions.set(register.nodeId, session);
    this.emit("session", session);
    const pump = (async () => {
      try {
        for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
          const m = r.value.message;
          if (m.case === "heartbeat" && this.ackHeartbeats) {
            session.send({
              case: "heartbeatAck",
              value: { seq: m.value.seq, leaseTtlMs: options.leaseTtlMs ?? 2_000 },
            });
          }
          session.deliver(r.value);
        }
      } catch {
        // The runner went away; the session just ends.
      } finally {
        session.open = false;
        outgoing.close();
        session.emit("closed");
      }
    })();
    try {
      yield* outgoing;
    } finally {
      outgoing.close();
      // Not awaited: the runner's request stream ends only once this response has ended.
      void pump;
    }
  }

  /** Ends every stream, drops every connection (as a dying orchestrator would) and closes the server. */
  async close(): Promise<void> {
    for (const s of this.sessions.values()) s.end();
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.connections) c.destroy();
    await closed;
  }
}
