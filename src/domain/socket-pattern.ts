/**
 * ZeroMQ socket patterns as they appear in manifests, and which pairs may be wired together.
 *
 * A service *offers* a socket when it binds it (its runner gives it a TCP port) and *consumes* a
 * socket when it connects out to someone else's, always through its runner's post office.
 */
export const SOCKET_PATTERNS = ["pub", "sub", "push", "pull", "req", "rep", "dealer", "router"] as const;

/** One ZeroMQ socket type, lower-case. */
export type SocketPattern = (typeof SOCKET_PATTERNS)[number];

/** Which patterns may sit at the other end of a wire, as ZeroMQ defines valid pairs. */
export const COMPATIBLE_PEERS: Readonly<Record<SocketPattern, readonly SocketPattern[]>> = {
  pub: ["sub"],
  sub: ["pub"],
  push: ["pull"],
  pull: ["push"],
  req: ["rep", "router"],
  rep: ["req", "dealer"],
  dealer: ["router", "rep", "dealer"],
  router: ["dealer", "req", "router"],
};

/**
 * Whether a *consumed* socket of this pattern may be wired to more than one offered socket.
 * Merging several feeds into one SUB or PULL is normal (a second feeder added); an order path
 * (dealer, req, push) must reach exactly one peer, or orders would be spread round-robin over
 * several gateways.
 */
export const CONSUMER_FAN_IN: Readonly<Record<SocketPattern, boolean>> = {
  pub: false,
  sub: true,
  push: false,
  pull: true,
  req: false,
  rep: false,
  dealer: false,
  router: false,
};

/** True when a socket of pattern `a` may be wired to one of pattern `b`. */
export function patternsCompatible(a: SocketPattern, b: SocketPattern): boolean {
  return COMPATIBLE_PEERS[a].includes(b);
}
