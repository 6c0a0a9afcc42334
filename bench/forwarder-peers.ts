/**
 * The parent's handle on a bench/forwarder-peer.ts child process: start it, send it commands and
 * wait for its replies, each wait bounded in time.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { PeerCommand, PeerReply } from "./forwarder-peer.ts";

const peerScript = fileURLToPath(new URL("./forwarder-peer.ts", import.meta.url));

type ReplyOf<T extends PeerReply["type"]> = Extract<PeerReply, { type: T }>;

/** One child process running forwarder-peer.ts. */
export class Peer {
  readonly #child: ChildProcess;
  readonly #replies: PeerReply[] = [];
  #wake: (() => void) | undefined;
  #exited = false;
  readonly #exit: Promise<void>;

  private constructor(
    readonly name: string,
    child: ChildProcess,
  ) {
    this.#child = child;
    child.on("message", (message: PeerReply) => {
      this.#replies.push(message);
      this.#wake?.();
    });
    this.#exit = new Promise((resolve) =>
      child.on("exit", () => {
        this.#exited = true;
        this.#wake?.();
        resolve();
      }),
    );
  }

  /** Forks the peer with `args` (feeder <name> | strategy) and waits for it to be ready. */
  static async start(name: string, args: readonly string[]): Promise<{ peer: Peer; endpoint?: string }> {
    const child = fork(peerScript, [...args], { execArgv: ["--import", "tsx"], stdio: "inherit" });
    const peer = new Peer(name, child);
    const ready = await peer.next("ready", 20_000);
    return { peer, endpoint: ready.endpoint };
  }

  /** Sends a command without waiting. */
  send(command: PeerCommand): void {
    this.#child.send(command);
  }

  /** Sends a command and waits for the reply of type `type`. */
  async request<T extends PeerReply["type"]>(
    command: PeerCommand,
    type: T,
    timeoutMs = 10_000,
  ): Promise<ReplyOf<T>> {
    this.send(command);
    return this.next(type, timeoutMs);
  }

  /** Waits for (and takes) the next reply of type `type`; throws after `timeoutMs`. */
  async next<T extends PeerReply["type"]>(type: T, timeoutMs: number): Promise<ReplyOf<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#replies.findIndex((r) => r.type === type);
      if (index >= 0) return this.#replies.splice(index, 1)[0] as ReplyOf<T>;
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

  /** Asks the peer to exit and waits for it (kills it after 5 s). */
  async close(): Promise<void> {
    if (this.#exited) return;
    this.send({ cmd: "exit" });
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5000);
    await this.#exit;
    clearTimeout(timer);
  }
}
