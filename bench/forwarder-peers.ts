/** The parent's handle on a bench/forwarder-peer.ts child process (see child-peer.ts). */
import { fileURLToPath } from "node:url";
import { ChildPeer } from "./child-peer.ts";
import type { PeerCommand, PeerReply } from "./forwarder-peer.ts";

const peerScript = fileURLToPath(new URL("./forwarder-peer.ts", import.meta.url));

/** One child process running forwarder-peer.ts. */
export type Peer = ChildPeer<PeerCommand, PeerReply>;

/** Starting a forwarder peer. */
export const Peer = {
  /** Forks the peer with `args` (feeder <name> | strategy) and waits for it to be ready. */
  async start(name: string, args: readonly string[]): Promise<{ peer: Peer; endpoint?: string }> {
    const peer: Peer = new ChildPeer(name, peerScript, args);
    const ready = await peer.next("ready", 20_000);
    return { peer, endpoint: ready.endpoint };
  },
};
