/**
 * The ZAP handler (ZeroMQ RFC 27) of the gateway's context: libzmq asks it, over the inproc
 * endpoint `inproc://zeromq.zap.01`, whether each CURVE handshake may complete, and we answer from
 * the keys we know. One handler serves every socket of the context; each socket names its
 * `zapDomain` ("orders", "control"), and each domain has its own rule.
 *
 *   client ──CURVE hello──▶ socket (zapDomain) ──ZAP request──▶ this ROUTER ──200 / 400──▶ socket
 *
 * A domain with no rule, or a mechanism other than CURVE, is refused: default deny. The handler
 * must be bound before any CURVE socket of the context binds, and closed after them.
 * Verified with zeromq.js 6.8 (libzmq 4.3.5): a refused client gets `handshake:error:auth` and
 * none of its messages reach the socket.
 */
import * as zmq from "zeromq";
import { HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import { z85Encode } from "../core/z85.ts";

/** The endpoint libzmq sends ZAP requests to. */
export const ZAP_ENDPOINT = "inproc://zeromq.zap.01";

/** The rule of one domain: the user id to admit a client's Z85 public key as, or undefined to refuse it. */
export type ZapRule = (publicKey: string, address: string) => string | undefined;

/** Counts of decisions, by domain. */
export interface ZapFigures {
  readonly admitted: Readonly<Record<string, number>>;
  readonly refused: Readonly<Record<string, number>>;
}

/** The ZAP handler; see the file comment. */
export class ZapHandler {
  readonly #router: zmq.Router;
  readonly #rules = new Map<string, ZapRule>();
  readonly #log: Logger;
  readonly #loop: Promise<void>;
  readonly #admitted: Record<string, number> = {};
  readonly #refused: Record<string, number> = {};

  /** Binds the handler in `context`; throws if that context has one already. */
  constructor(context: zmq.Context, log: Logger) {
    this.#log = log;
    this.#router = new zmq.Router({ context, linger: 0, sendTimeout: 0 });
    this.#router.bindSync(ZAP_ENDPOINT);
    this.#loop = this.#serve();
  }

  /** Sets (or replaces) the rule of a domain. */
  setRule(domain: string, rule: ZapRule): void {
    this.#rules.set(domain, rule);
  }

  /** Removes the rule of a domain: its handshakes are refused from now on. */
  deleteRule(domain: string): void {
    this.#rules.delete(domain);
  }

  /** A copy of the counts. */
  figures(): ZapFigures {
    return { admitted: { ...this.#admitted }, refused: { ...this.#refused } };
  }

  /** Unbinds; after this every CURVE handshake of the context fails. */
  async close(): Promise<void> {
    this.#router.close();
    await this.#loop;
  }

  async #serve(): Promise<void> {
    try {
      for await (const frames of this.#router) await this.#answer(frames);
    } catch (err) {
      if (!this.#router.closed) this.#log.error({ err: HiveError.from(err) }, "ZAP handler failed");
    }
  }

  /** Frames: [peer, "", version, requestId, domain, address, identity, mechanism, ...credentials]. */
  async #answer(frames: Buffer[]): Promise<void> {
    const [peer, delimiter, version, requestId, domainFrame, addressFrame, , mechanism, credential] = frames;
    if (peer === undefined || delimiter === undefined || requestId === undefined) return;
    const domain = domainFrame?.toString() ?? "";
    const address = addressFrame?.toString() ?? "";
    let userId: string | undefined;
    let why = "";
    if (version?.toString() !== "1.0") why = "unsupported ZAP version";
    else if (mechanism?.toString() !== "CURVE" || credential?.length !== 32) why = "not a CURVE client";
    else {
      const rule = this.#rules.get(domain);
      const key = z85Encode(credential);
      userId = rule?.(key, address);
      if (userId === undefined) why = rule === undefined ? `no rule for domain "${domain}"` : "unknown key";
      else this.#log.debug({ domain, address, key, userId }, "ZAP: admitted");
      if (userId === undefined) this.#log.warn({ domain, address, key, why }, "ZAP: refused a client");
    }
    const counts = userId === undefined ? this.#refused : this.#admitted;
    counts[domain] = (counts[domain] ?? 0) + 1;
    const status = userId === undefined ? ["400", why] : ["200", "OK"];
    try {
      await this.#router.send([peer, delimiter, "1.0", requestId, ...status, userId ?? "", ""]);
    } catch (err) {
      this.#log.warn({ err: HiveError.from(err), domain }, "ZAP: could not answer");
    }
  }
}
