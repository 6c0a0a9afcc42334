/**
 * Where an order came from, as the gateway core sees it: a routing id on one of the gateway's
 * orders sockets, and the node key that socket admits. The core decides with the key (the node
 * binding, fence-rules.ts) and keeps the peer to address later replies (acks, fills); the loop
 * sends them on the peer's socket. Routing ids are the socket's own (libzmq numbers them per
 * socket), so a peer is (socket, id), never the id alone.
 */

/** What the loop sends replies with (a zmq.Router, in the gateway). */
export interface OrderSocket {
  send(frames: (Buffer | string)[]): Promise<void>;
}

/** One orders socket of the gateway. */
export interface OrderSource {
  /**
   * The CURVE public key (Z85) every connection of this socket authenticated with: the socket of
   * one node (node-sockets.ts). Undefined for the shared orders socket, whose connections are not
   * bound to a node.
   */
  readonly nodeKey: string | undefined;
  readonly socket: OrderSocket;
}

/** One runner connection: a routing id on one socket. */
export interface OrderPeer {
  readonly source: OrderSource;
  readonly id: Buffer;
}
