/**
 * The parent's handle on a bench/gateway-peer.ts child process: start it, send it a command and
 * wait (bounded in time) for the reply.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { GatewayPeerCommand, GatewayPeerReply } from "./gateway-peer.ts";

const peerScript = fileURLToPath(new URL("./gateway-peer.ts", import.meta.url));

type ReplyOf<T extends GatewayPeerReply["type"]> = Extract<GatewayPeerReply, { type: T }>;

/** One child process running gateway-peer.ts. */
export class GatewayPeer {
  readonly #child: ChildProcess;
  readonly #replies: GatewayPeerReply[] = [];
  readonly #exit: Promise<void>;
  #wake: (() => void) | undefined;
  #exited = false;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on("message", (message: GatewayPeerReply) => {
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

  /** Forks the peer and waits for it to be ready. */
  static async start(): Promise<GatewayPeer> {
    const child = fork(peerScript, [], { execArgv: ["--import", "tsx"], stdio: "inherit" });
    const peer = new GatewayPeer(child);
    await peer.#next("ready", 20_000);
    return peer;
  }

  /** Sends a command and waits for the reply of type `type`; an `error` reply throws. */
  async request<T extends GatewayPeerReply["type"]>(
    command: GatewayPeerCommand,
    type: T,
    timeoutMs: number,
  ): Promise<ReplyOf<T>> {
    this.#child.send(command);
    return this.#next(type, timeoutMs);
  }

  /** Asks the child to exit and waits for it. */
  async close(): Promise<void> {
    if (!this.#exited) this.#child.send({ cmd: "exit" });
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5_000);
    await this.#exit;
    clearTimeout(timer);
  }

  async #next<T extends GatewayPeerReply["type"]>(type: T, timeoutMs: number): Promise<ReplyOf<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const error = this.#replies.find((r) => r.type === "error");
      if (error?.type === "error") throw new Error(`gateway peer: ${error.message}`);
      const index = this.#replies.findIndex((r) => r.type === type);
      if (index >= 0) return this.#replies.splice(index, 1)[0] as ReplyOf<T>;
      if (this.#exited) throw new Error(`gateway peer exited while we waited for ${type}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`gateway peer: no ${type} reply within ${timeoutMs} ms`);
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
}
