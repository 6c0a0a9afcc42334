/**
 * The momentum rule, shared by the live strategy (momentum.mjs) and the backtest (backtest.mjs),
 * and mirrored line for line by backtest.py. Pure: no sockets, no clock, no randomness, so the
 * same ticks always give the same orders in every program and language.
 *
 * Per symbol it keeps the last `lookback` mid prices. Once the window is full, each new mid is
 * compared with the window's mean (before the new mid joins it):
 *
 *   mid > mean × (1 + thresholdBps / 10 000)   → the price is "above"
 *   mid < mean × (1 − thresholdBps / 10 000)   → the price is "below"
 *   otherwise                                  → "inside"
 *
 * A signal is given only when the price *enters* "above" (buy) or "below" (sell), not on every
 * tick it stays there. Whether a signal becomes an order is `orderSide`'s decision, from the
 * position and the position limit.
 *
 * Floating point: the mean is a plain sum in window order divided by `lookback`, and the bands
 * are computed exactly as written above, so Python's floats (the same IEEE doubles) agree to the
 * last bit. Do not "optimise" it into a running sum in one language only.
 */

/** Defaults of the strategy's parameters. */
export const DEFAULT_PARAMS = Object.freeze({ lookback: 20, thresholdBps: 1, qty: 1, maxPosition: 2 });

/** What each parameter must be, for the error message. */
const RULES = {
  lookback: { integer: true, min: 2, expected: "a whole number of ticks, 2 or more" },
  thresholdBps: { integer: false, min: 0, expected: "a number of basis points, 0 or more" },
  qty: { integer: false, min: Number.MIN_VALUE, expected: "a quantity above zero" },
  maxPosition: { integer: false, min: 0, expected: "a quantity, 0 or more" },
};

/**
 * Validated parameters from strings (flags or environment variables). `sources` maps each
 * parameter to `{ name, value }`, where `name` is what to call it in an error (`--lookback`,
 * `LOOKBACK`) and `value` is undefined when not given. Throws an Error naming what was wrong.
 */
export function compileParams(sources) {
  const params = { ...DEFAULT_PARAMS };
  for (const [key, rule] of Object.entries(RULES)) {
    const source = sources[key];
    if (source === undefined || source.value === undefined || source.value === "") continue;
    const value = Number(source.value);
    const ok = Number.isFinite(value) && value >= rule.min && (!rule.integer || Number.isSafeInteger(value));
    if (!ok)
      throw new Error(`${source.name}: found ${JSON.stringify(source.value)}, expected ${rule.expected}`);
    params[key] = value;
  }
  return Object.freeze(params);
}

/** The crossing detector; one instance holds the windows of every symbol it has seen. */
export class MomentumSignal {
  #params;
  /** symbol → { window: number[] (oldest first), zone: "above" | "below" | "inside" } */
  #symbols = new Map();

  constructor(params) {
    this.#params = params;
  }

  /** Feeds one mid price of `symbol`; returns "buy", "sell" or null (no crossing on this tick). */
  onPrice(symbol, mid) {
    let state = this.#symbols.get(symbol);
    if (state === undefined) {
      state = { window: [], zone: "inside" };
      this.#symbols.set(symbol, state);
    }
    const { lookback, thresholdBps } = this.#params;
    let signal = null;
    if (state.window.length === lookback) {
      let total = 0;
      for (const price of state.window) total += price;
      const mean = total / lookback;
      let zone = "inside";
      if (mid > mean * (1 + thresholdBps / 10000)) zone = "above";
      else if (mid < mean * (1 - thresholdBps / 10000)) zone = "below";
      if (zone !== state.zone && zone !== "inside") signal = zone === "above" ? "buy" : "sell";
      state.zone = zone;
      state.window.shift();
    }
    state.window.push(mid);
    return signal;
  }
}

/**
 * The side of the order to send for `signal`, or null when the position limit forbids it.
 * `position` is the filled position (long > 0); `pendingBuy` and `pendingSell` are quantities
 * sent but not yet filled or rejected, counted as if they would fill, so that orders in flight
 * can never take the position past ±maxPosition.
 */
export function orderSide(signal, position, pendingBuy, pendingSell, params) {
  if (signal === "buy" && position + pendingBuy + params.qty <= params.maxPosition) return "buy";
  if (signal === "sell" && position - pendingSell - params.qty >= -params.maxPosition) return "sell";
  return null;
}
