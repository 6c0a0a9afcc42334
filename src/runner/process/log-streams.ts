/**
 * The orchestrator's log requests (LogRequest, LogCancel): a deployment's output read from its
 * log files (a tail, then followed if asked), sent in chunks and ended with an end-of-file chunk.
 * Every follower is cancelled when the runner closes. A request for a deployment id that is not one
 * path component is refused (logged at warn) and answered with the end-of-file chunk alone.
 */
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { Logger } from "../../core/logger.ts";
import { LogStream, type LogRequest } from "../../protocol/index.ts";
import { logDirOf } from "./log-files.ts";
import { readLog } from "./read-log.ts";

/** One chunk of a log stream: data, or its end. */
export interface LogStreamChunk {
  readonly requestId: string;
  readonly deploymentId: string;
  readonly stream: LogStream;
  readonly data?: Uint8Array;
  readonly eof?: true;
}

/** The log streams being served, by request id. */
export class LogStreams {
  readonly #followers = new Map<string, AbortController>();

  constructor(
    private readonly logDir: string,
    private readonly send: (chunk: LogStreamChunk) => void,
    private readonly log: Logger,
  ) {}

  /** Serves one log request until its end (or, when it follows, until it is cancelled). */
  async serve(r: LogRequest): Promise<void> {
    const abort = new AbortController();
    this.#followers.set(r.requestId, abort);
    const stream = r.stream === LogStream.STDERR ? "stderr" : "stdout";
    const chunk = (part: { data: Uint8Array } | { eof: true }) =>
      this.send({
        requestId: r.requestId,
        deploymentId: r.deploymentId,
        stream: r.stream || LogStream.STDOUT,
        ...part,
      });
    try {
      // Before any file is touched: a deployment id that would leave the log directory is refused.
      logDirOf(this.logDir, r.deploymentId);
      for await (const data of readLog(this.logDir, r.deploymentId, stream, {
        tailBytes: r.tailBytes === undefined ? undefined : Number(r.tailBytes),
        follow: r.follow,
        signal: abort.signal,
      })) {
        chunk({ data });
      }
    } catch (err) {
      if (err instanceof HiveError && err.code === ErrorCode.InvalidArgument) {
        this.log.warn(
          { requestId: r.requestId, deploymentId: r.deploymentId, reason: err.message },
          "log request refused",
        );
      } else if (!abort.signal.aborted) {
        this.log.warn({ deploymentId: r.deploymentId, err }, "log stream failed");
      }
    } finally {
      this.#followers.delete(r.requestId);
      chunk({ eof: true });
    }
  }

  /** Ends a followed stream (LogCancel). */
  cancel(requestId: string): void {
    this.#followers.get(requestId)?.abort();
  }

  /** Ends every stream (the runner is closing). */
  cancelAll(): void {
    for (const follower of this.#followers.values()) follower.abort();
  }
}
