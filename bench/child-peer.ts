/**
 * The parent's handle on a bench's child process (a load generator or a ZeroMQ peer, forked with
 * tsx and talking over the IPC channel): send it commands, wait for its replies by type, each
 * wait bounded in time; a reply of type `error` (with a `message`) is thrown.
 */
import { fork, type ChildProcess } from "node:child_process";

type ReplyOf<R extends { type: string }, T extends R["type"]> = Extract<R, { type: T }>;

/** One forked child that answers commands with typed replies. */
export class ChildPeer<Command extends { cmd: string }, Reply extends { type: string }> {
  readonly #child: ChildProcess;
  readonly #replies: Reply[] = [];
  readonly #exit: Promise<void>;
  #wake: (() => void) | undefined;
  #exited = false;

  /** Forks `script` with `args`, named `name` in errors. */
  constructor(
    readonly name: string,
    script: string,
    args: readonly string[] = [],
  ) {
    this.#child = fork(script, [...args], { execArgv: ["--import", "tsx"], stdio: "inherit" });
    this.#child.on("message", (message: Reply) => {
      this.#replies.push(message);
      this.#wake?.();
    });
    this.#exit = new Promise((resolve) =>
      this.#child.on("exit", () => {
        this.#exited = true;
        this.#wake?.();
        resolve();
      }),
    );
  }

  /** The child's process id (for its CPU time in /proc/<pid>/stat). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Sends a command without waiting. */
  send(command: Command): void {
    this.#child.send(command);
  }

  /** Sends a command and waits for the reply of type `type`. */
  async request<T extends Reply["type"]>(
    command: Command,
    type: T,
    timeoutMs = 10_000,
  ): Promise<ReplyOf<Reply, T>> {
    this.send(command);
    return this.next(type, timeoutMs);
  }

  /** Waits for (and takes) the next reply of type `type`; throws after `timeoutMs`. */
  async next<T extends Reply["type"]>(type: T, timeoutMs: number): Promise<ReplyOf<Reply, T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const error = this.#replies.find((r) => r.type === "error") as { message?: string } | undefined;
      if (error !== undefined) throw new Error(`${this.name}: ${error.message ?? "error"}`);
      const index = this.#replies.findIndex((r) => r.type === type);
      if (index >= 0) return this.#replies.splice(index, 1)[0] as ReplyOf<Reply, T>;
      if (this.#exited) throw new Error(`${this.name} exited while we waited for ${type}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${type} reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Asks the child to exit (`{cmd: "exit"}`) and waits for it; kills it after 5 s. */
  async close(): Promise<void> {
    if (!this.#exited) this.#child.send({ cmd: "exit" });
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5_000);
    await this.#exit;
    clearTimeout(timer);
  }
}
