/** The parent's handle on a bench/gateway-peer.ts child process (see child-peer.ts). */
import { fileURLToPath } from "node:url";
import { ChildPeer } from "./child-peer.ts";
import type { GatewayPeerCommand, GatewayPeerReply } from "./gateway-peer.ts";

const peerScript = fileURLToPath(new URL("./gateway-peer.ts", import.meta.url));

/** One child process running gateway-peer.ts. */
export type GatewayPeer = ChildPeer<GatewayPeerCommand, GatewayPeerReply>;

/** Starting the gateway load peer. */
export const GatewayPeer = {
  /** Forks the peer and waits for it to be ready. */
  async start(): Promise<GatewayPeer> {
    const peer: GatewayPeer = new ChildPeer("gateway peer", peerScript);
    await peer.next("ready", 20_000);
    return peer;
  },
};
