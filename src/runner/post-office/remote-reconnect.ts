/**
 * How the post office redials a remote peer (a feeder, a gateway) whose connection dropped: soon
 * at first (a moved feeder or gateway is usually up already), then backing off to once a second
 * for one that is down. The order path hands these to ZeroMQ; the market-data relay, which dials
 * itself, draws each wait at random below them (core/backoff.ts) so that the runners of a desk
 * do not all redial a restarted feeder at the same instant.
 */
export const REMOTE_RECONNECT = { reconnectInterval: 10, reconnectMaxInterval: 1000 } as const;
