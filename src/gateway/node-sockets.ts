/**
 * One orders socket per admitted node: how the gateway knows which node sent an order.
 *
 * libzmq tells a ZAP handler a CURVE client's public key and the ZAP domain of the socket it
 * connects to, but not which routing id the connection will get, and zeromq.js does not expose
 * the User-Id libzmq attaches to each message after ZAP; so on one ROUTER shared by every node,
 * nothing says which key a message came from. Here each admitted node key K gets a ROUTER of its
 * own, on a port of its own (on the host of the gateway's orders address), with ZAP domain
 * `node:K`, whose rule admits K and nothing else. Every message read from that socket therefore
 * came over a connection whose CURVE handshake proved K, and the loop tags it so
 * (order-peer.ts); the fence check compares that key with the one the fence names.
 *
 *   node A ──CURVE(A)──▶ ROUTER :port(A), zapDomain node:A (admits A only) ─┐
 *   node B ──CURVE(B)──▶ ROUTER :port(B), zapDomain node:B (admits B only) ─┴─▶ loop (one batch)
 *
 * Lifecycle of a node's socket (the core decides, gateway-core.ts):
 *
 *   (none) ──a fence names K: admit(K)──▶ open ──no fence names K: retain()──▶ closed (none)
 *
 * Closing the socket is the revocation: libzmq drops its connections at once, and a new one is
 * refused (nothing listens on the port). Ports are written down (`node_ports`) and bound again
 * for the same key after a restart, so a runner's route stays right across a gateway restart; a
 * port found taken is replaced by a free one, which the orchestrator reads with the `nodes` op.
 */
import * as zmq from "zeromq";
import { ErrorCode, HiveError } from "../core/hive-error.ts";
import type { Logger } from "../core/logger.ts";
import type { NodeAdmission } from "./gateway-core.ts";
import type { OrderSource } from "./order-peer.ts";
import type { PeerDisconnects } from "./peer-disconnects.ts";
import type { ZapHandler } from "./zap-handler.ts";

/** A node's orders socket, as the loop reads it. */
export interface NodeSource extends OrderSource {
  readonly nodeKey: string;
  readonly socket: zmq.Router;
  readonly port: number;
}

/** What the node sockets need. */
export interface NodeSocketsOptions {
  readonly context: zmq.Context;
  readonly zap: ZapHandler;
  /** The gateway's CURVE secret key. */
  readonly secretKey: string;
  /** `tcp://host` of the orders address: node sockets listen on the same host. */
  readonly host: string;
  /** The ports written down, by key; `remember` writes one. */
  readonly ports: ReadonlyMap<string, number>;
  readonly remember: (publicKey: string, port: number) => void;
  /** High-water marks of each socket (as the shared orders socket's). */
  readonly highWaterMark: number;
  /** The largest frame a node may send; a bigger one disconnects it before it is read. */
  readonly maxFrameBytes: number;
  /** Where each socket's lost connections are counted. */
  readonly disconnects?: PeerDisconnects;
  /** Told of each socket opened (the loop starts reading it) . */
  readonly opened: (source: NodeSource) => void;
  readonly log: Logger;
}

/** The ZAP domain of a node key's socket. */
export function nodeDomain(publicKey: string): string {
  return `node:${publicKey}`;
}

/** See the file comment. */
export class NodeSockets implements NodeAdmission {
  readonly #o: NodeSocketsOptions;
  readonly #open = new Map<string, NodeSource>();
  readonly #ports: Map<string, number>;

  constructor(options: NodeSocketsOptions) {
    this.#o = options;
    this.#ports = new Map(options.ports);
  }

  /** Opens `publicKey`'s socket if it has none (on its remembered port when it can); returns its port. */
  admit(publicKey: string): number {
    const open = this.#open.get(publicKey);
    if (open !== undefined) return open.port;
    const { zap, context, secretKey, host, highWaterMark } = this.#o;
    const domain = nodeDomain(publicKey);
    zap.setRule(domain, (presented) => (presented === publicKey ? domain : undefined));
    const socket = new zmq.Router({
      context,
      linger: 0,
      sendTimeout: 0,
      sendHighWaterMark: highWaterMark,
      receiveHighWaterMark: highWaterMark,
      maxMessageSize: this.#o.maxFrameBytes,
      curveServer: true,
      curveSecretKey: secretKey,
      zapDomain: domain,
    });
    const wanted = this.#ports.get(publicKey);
    try {
      try {
        socket.bindSync(`${host}:${wanted ?? "*"}`);
      } catch (err) {
        if (wanted === undefined) throw err;
        this.#o.log.warn(
          { key: publicKey, port: wanted, err: HiveError.from(err).message },
          "gateway: a node's orders port is taken; binding another (the orchestrator reads it with `nodes`)",
        );
        socket.bindSync(`${host}:*`);
      }
    } catch (err) {
      socket.close();
      zap.deleteRule(domain);
      throw new HiveError(
        ErrorCode.Unavailable,
        `gateway: cannot bind an orders socket for node key ${publicKey} on ${host}`,
        {
          cause: err,
        },
      );
    }
    const port = Number(/:(\d+)$/.exec(socket.lastEndpoint ?? "")?.[1]);
    if (port !== wanted) {
      this.#ports.set(publicKey, port);
      this.#o.remember(publicKey, port);
    }
    this.#o.disconnects?.watch(socket, "orders", this.#o.maxFrameBytes);
    const source: NodeSource = { nodeKey: publicKey, socket, port };
    this.#open.set(publicKey, source);
    this.#o.log.info({ key: publicKey, port }, "gateway: node admitted (its orders socket is open)");
    this.#o.opened(source);
    return port;
  }

  /** Closes the socket of every key not in `keep` (dropping its connections); returns those keys. */
  retain(keep: ReadonlySet<string>): string[] {
    const closed: string[] = [];
    for (const [key, source] of this.#open) {
      if (keep.has(key)) continue;
      this.#o.zap.deleteRule(nodeDomain(key));
      source.socket.close();
      this.#open.delete(key);
      closed.push(key);
      this.#o.log.info(
        { key, port: source.port },
        "gateway: node no longer admitted (its orders socket is closed)",
      );
    }
    return closed;
  }

  /** The admitted keys and the ports of their sockets. */
  ports(): Record<string, number> {
    return Object.fromEntries([...this.#open].map(([key, s]) => [key, s.port]));
  }

  /** Whether `publicKey` has an open socket. */
  has(publicKey: string): boolean {
    return this.#open.has(publicKey);
  }

  /** Closes every socket. */
  close(): void {
    this.retain(new Set());
  }
}
