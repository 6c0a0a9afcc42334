import { randomInt } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { AsyncQueue } from "../core/async-queue.ts";
import type { Outbox } from "./runner-service.ts";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import {
  LogStream,
  OrchestratorMessageSchema,
  type RunnerMessage,
  type SpawnRequestSchema,
  type SpawnResponse,
  type StopResponse,
} from "../protocol/index.ts";

/**
 * How long a route update may go unacknowledged. A runner applies one in milliseconds; while a
 * push is out no other goes to that node (route-sync.ts), so one that is never answered must not
 * hold the node's routes for long. On timeout it is pushed again after ROUTE_RETRY_MS (route
 * updates are upserts, so applying one twice is harmless).
 */
export const ROUTE_ACK_TIMEOUT_MS = 5_000;

type Payload = NonNullable<MessageInitShape<typeof OrchestratorMessageSchema>["message"]>;

interface Pending<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The orchestrator's end of one runner's stream: sends requests and matches the runner's answers
 * to them (by request id for spawns, stops and logs; by version for routes). When the stream
 * ends, everything still waiting fails with Unavailable, so no caller waits forever.
 */
export class RunnerSession {
  private readonly spawns = new Map<string, Pending<SpawnResponse>>();
  private readonly stops = new Map<string, Pending<StopResponse>>();
  private readonly routeAcks = new Map<bigint, Pending<void>>();
  private readonly logs = new Map<string, AsyncQueue<Uint8Array>>();
  /**
   * Route versions start at a random base per stream: an answer that a runner's handler of an
   * earlier stream sends late (it handles messages in order, behind the stream, and sends on the
   * stream that is current by then) can then never acknowledge this stream's update of the same
   * number. They still increase by one with every update, as the protocol says.
   */
  private routeVersion = BigInt(randomInt(2 ** 47)) << 16n;
  private requestSeq = 0;
  private closedReason: string | undefined;

  constructor(
    readonly nodeId: string,
    private readonly outgoing: Outbox,
    private readonly timeoutMs = 30_000,
    private readonly routeTimeoutMs = ROUTE_ACK_TIMEOUT_MS,
    /**
     * Who the runner proved to be: the SHA-256 of its certificate's public key (mutual TLS), or
     * undefined on a cleartext or in-process link. A node's next session must prove the same
     * while this one's lease holds (Registry.admits).
     */
    readonly identity?: string,
  ) {}

  /** Whether the stream is still open. */
  get open(): boolean {
    return this.closedReason === undefined;
  }

  /** Sends a message that expects no answer. */
  send(message: Payload): void {
    if (!this.open) throw this.unavailable();
    this.outgoing.push(create(OrchestratorMessageSchema, { message }));
  }

  /** A fresh request id, unique on this orchestrator. */
  nextRequestId(kind: string): string {
    return `${kind}-${this.nodeId}-${Date.now().toString(36)}-${++this.requestSeq}`;
  }

  /** Asks the runner to spawn; resolves with its answer (which may say it failed). */
  spawn(request: MessageInitShape<typeof SpawnRequestSchema>): Promise<SpawnResponse> {
    const requestId = request.requestId || this.nextRequestId("spawn");
    return this.wait(this.spawns, requestId, `spawn of ${request.deploymentId}`, () =>
      this.send({ case: "spawnRequest", value: { ...request, requestId } }),
    );
  }

  /** Asks the runner to stop a deployment. */
  stop(deploymentId: string, gracePeriodMs: number): Promise<StopResponse> {
    const requestId = this.nextRequestId("stop");
    // The answer comes after the grace period at the latest, plus the time to reap.
    return this.wait(
      this.stops,
      requestId,
      `stop of ${deploymentId}`,
      () => this.send({ case: "stopRequest", value: { requestId, deploymentId, gracePeriodMs } }),
      this.timeoutMs + gracePeriodMs,
    );
  }

  /** Pushes a route change; resolves once the runner has applied it. */
  routes(
    upserts: readonly {
      deploymentId: string;
      socket: string;
      local: string;
      remotes: readonly string[];
      serverKey?: string;
    }[],
    removals: readonly { deploymentId: string; socket: string }[],
  ): Promise<void> {
    const version = ++this.routeVersion;
    return this.wait(
      this.routeAcks,
      version,
      `route update ${version}`,
      () =>
        this.send({
          case: "routeUpdate",
          value: {
            version,
            routes: upserts.map((r) => ({
              deploymentId: r.deploymentId,
              socketName: r.socket,
              localEndpoint: r.local,
              remoteAddresses: [...r.remotes],
              curveServerKey: r.serverKey ?? "",
            })),
            removals: removals.map((r) => ({ deploymentId: r.deploymentId, socketName: r.socket })),
          },
        }),
      this.routeTimeoutMs,
    );
  }

  /** Streams a deployment's output; stops following when the signal aborts. */
  async *readLogs(
    deploymentId: string,
    options: { stream: "stdout" | "stderr"; follow: boolean; tailBytes?: number; signal?: AbortSignal },
  ): AsyncGenerator<Uint8Array> {
    const requestId = this.nextRequestId("logs");
    const queue = new AsyncQueue<Uint8Array>();
    this.logs.set(requestId, queue);
    const onAbort = () => {
      if (this.open) this.send({ case: "logCancel", value: { requestId } });
      queue.close();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      this.send({
        case: "logRequest",
        value: {
          requestId,
          deploymentId,
          stream: options.stream === "stderr" ? LogStream.STDERR : LogStream.STDOUT,
          follow: options.follow,
          ...(options.tailBytes === undefined ? {} : { tailBytes: BigInt(options.tailBytes) }),
        },
      });
      yield* queue;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      this.logs.delete(requestId);
    }
  }

  /** Hands a message of the runner to whoever waits for it; returns false if nobody did. */
  deliver(message: RunnerMessage): boolean {
    const m = message.message;
    switch (m.case) {
      case "spawnResponse":
        return this.settle(this.spawns, m.value.requestId, m.value);
      case "stopResponse":
        return this.settle(this.stops, m.value.requestId, m.value);
      case "routeAck":
        return this.settle(this.routeAcks, m.value.version, undefined);
      case "logChunk": {
        const q = this.logs.get(m.value.requestId);
        if (!q) return false;
        if (m.value.data.length > 0 && !q.isClosed) q.push(m.value.data);
        if (m.value.eof) q.close();
        return true;
      }
      default:
        return false;
    }
  }

  /** Ends the session: everything waiting fails with the reason. */
  close(reason: string): void {
    if (!this.open) return;
    this.closedReason = reason;
    this.outgoing.close();
    for (const map of [this.spawns, this.stops, this.routeAcks] as Map<unknown, Pending<unknown>>[]) {
      for (const p of map.values()) {
        clearTimeout(p.timer);
        p.reject(this.unavailable());
      }
      map.clear();
    }
    for (const q of this.logs.values()) q.close();
  }

  private unavailable(): HiveError {
    return new HiveError(
      ErrorCode.Unavailable,
      `runner ${this.nodeId} is not connected (${this.closedReason ?? "closed"})`,
    );
  }

  private wait<K, T>(
    map: Map<K, Pending<T>>,
    key: K,
    what: string,
    send: () => void,
    timeoutMs = this.timeoutMs,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        map.delete(key);
        reject(
          new HiveError(ErrorCode.Unavailable, `${what} on ${this.nodeId}: no answer in ${timeoutMs} ms`),
        );
      }, timeoutMs);
      map.set(key, { resolve, reject, timer });
      try {
        send();
      } catch (err) {
        clearTimeout(timer);
        map.delete(key);
        reject(HiveError.from(err));
      }
    });
  }

  private settle<K, T>(map: Map<K, Pending<T>>, key: K, value: T): boolean {
    const p = map.get(key);
    if (!p) return false;
    map.delete(key);
    clearTimeout(p.timer);
    p.resolve(value);
    return true;
  }
}
