/**
 * Net positions per account and symbol, with the set changed since the last flush. The gateway
 * keeps one (its books, from the fills the broker reported) and the paper broker another (the
 * broker's own): the fault tests compare the two, so they are two instances of one class, each
 * written back to its own table once per batch.
 */

/** One position: account, symbol, net quantity (positive long). */
export type Position = readonly [account: string, symbol: string, qty: number];

/** See the file comment. */
export class PositionBook {
  readonly #qty = new Map<string, Map<string, number>>();
  /** account → symbols changed since the last `takeChanged`. */
  readonly #changed = new Map<string, Set<string>>();

  /** A book holding `positions` (as loaded from a table), none of them changed. */
  static of(positions: Iterable<Position>): PositionBook {
    const book = new PositionBook();
    for (const [account, symbol, qty] of positions) book.#bySymbol(account).set(symbol, qty);
    return book;
  }

  /** Adds a signed quantity (a buy fill is positive, a sell negative). */
  add(account: string, symbol: string, signedQty: number): void {
    const bySymbol = this.#bySymbol(account);
    bySymbol.set(symbol, (bySymbol.get(symbol) ?? 0) + signedQty);
    let changed = this.#changed.get(account);
    if (changed === undefined) this.#changed.set(account, (changed = new Set()));
    changed.add(symbol);
  }

  /** The positions changed since the last call (to write back), and forgets that they changed. */
  takeChanged(): Position[] {
    const out: Position[] = [];
    for (const [account, symbols] of this.#changed)
      for (const symbol of symbols) out.push([account, symbol, this.#qty.get(account)?.get(symbol) ?? 0]);
    this.#changed.clear();
    return out;
  }

  /** The accounts with a position entry. */
  accounts(): IterableIterator<string> {
    return this.#qty.keys();
  }

  /** One account's positions by symbol. */
  account(account: string): Record<string, number> {
    return Object.fromEntries(this.#qty.get(account) ?? []);
  }

  /** Every account's positions (or one account's), by account then symbol. */
  snapshot(account?: string): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const a of this.#qty.keys()) if (account === undefined || a === account) out[a] = this.account(a);
    return out;
  }

  #bySymbol(account: string): Map<string, number> {
    let bySymbol = this.#qty.get(account);
    if (bySymbol === undefined) this.#qty.set(account, (bySymbol = new Map<string, number>()));
    return bySymbol;
  }
}
