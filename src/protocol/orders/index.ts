/**
 * The order contract between strategies, runners and the gateway (DESIGN.md §4), in one place:
 * both ends import it from here. Start with the diagram, then the file of the hop you need.
 *
 *   strategy ──order──▶ runner ──envelope──▶ gateway ──▶ broker
 *      ▲                  │ reject (runner codes)   │ ack, fill, reject (gateway codes),
 *      └──────────────────┴─────────────────────────┘ duplicate, cancelled, pending
 *
 * - order.ts          what a strategy sends, and its checks (`parseOrder`)
 * - envelope.ts       what the runner sends the gateway (`stampOrder`, `parseEnvelope`)
 * - replies.ts        every reply a strategy reads, and their builders
 * - reject-codes.ts   the closed sets of reject codes, and the runner's reasons
 *
 * Everything here is a pure function of its input, run per order on both hot paths: no schema
 * library, one JSON.parse per frame, one JSON.stringify per frame built.
 */
export {
  MAX_CLIENT_ORDER_ID,
  parseOrder,
  type Order,
  type OrderType,
  type ParsedOrder,
  type Side,
} from "./order.ts";
export {
  parseEnvelope,
  stampOrder,
  type FencingToken,
  type OrderEnvelope,
  type ParsedEnvelope,
} from "./envelope.ts";
export {
  ackReply,
  cancelledReply,
  duplicateReply,
  fillReply,
  gatewayRejectReply,
  pendingReply,
  replyClientOrderId,
  runnerRejectReply,
  type AckReply,
  type CancelledReply,
  type DuplicateReply,
  type Fill,
  type FillReply,
  type GatewayRejectReply,
  type KnownStatus,
  type OrderReply,
  type PendingReply,
  type RunnerRejectReply,
} from "./replies.ts";
export {
  accountRejectReason,
  GatewayRejectCode,
  OrderRejectReason,
  queuedTooLongReason,
  rateLimitedReason,
  RunnerRejectCode,
  type RejectCode,
} from "./reject-codes.ts";
