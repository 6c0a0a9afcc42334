#!/usr/bin/env python3
"""A backtest of the momentum strategy in Python 3, standard library only.

The same program as backtest.mjs, to show that a strategy needs nothing but its environment: it
replays the tick dataset the runner put in RAM (HIVE_DATASET_TICKS) through the momentum rule,
fills every order at once at the tick's price (a buy at the ask, a sell at the bid), and writes
the same results file, with the same trades, as the Node version.

    /usr/bin/python3 examples/programs/backtest.py [--lookback 20] [--threshold-bps 1] [--qty 1]
        [--max-position 2] [--out file] [--progress-every 100000] [--dataset path]

Flags win over the environment variables LOOKBACK, THRESHOLD_BPS, QTY and MAX_POSITION. Results
go to --out, else $HIVE_RESULTS_DIR/<HIVE_DEPLOYMENT_ID>.json, else
./results/<HIVE_SERVICE or "backtest">.json. Progress and a summary go to stdout, one JSON object
per line. SIGTERM stops the replay early and writes what was done so far, with "complete": false.
Exit codes: 0 done (or stopped by SIGTERM), 1 the dataset could not be read, 2 bad configuration.
"""

import argparse
import json
import math
import os
import signal
import sys
from datetime import datetime, timezone

TICK_COLUMNS = ["ts", "symbol", "bid", "ask", "last", "size"]
DEFAULT_PARAMS = {"lookback": 20, "thresholdBps": 1, "qty": 1, "maxPosition": 2}
# name: (whole number only, minimum, what is expected) -- as in lib/momentum-signal.mjs
RULES = {
    "lookback": (True, 2, "a whole number of ticks, 2 or more"),
    "thresholdBps": (False, 0, "a number of basis points, 0 or more"),
    "qty": (False, 5e-324, "a quantity above zero"),
    "maxPosition": (False, 0, "a quantity, 0 or more"),
}


class TickDataError(Exception):
    """A dataset that cannot be read as ticks; the message names the file, line and column."""


def now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(event, **fields):
    """One line of structured output."""
    print(json.dumps({"ts": now_iso(), "event": event, **fields}, separators=(",", ":")), flush=True)


def config_error(message):
    """A configuration error: one clear line on stderr, exit code 2."""
    print(f"backtest: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def number(text):
    """A float, or an int when it is whole, so that JSON shows 1 and not 1.0 (as JavaScript does)."""
    value = float(text)
    return int(value) if value.is_integer() else value


def compile_params(sources):
    """Validated parameters; `sources` maps each one to (name for errors, string or None)."""
    params = dict(DEFAULT_PARAMS)
    for key, (whole, minimum, expected) in RULES.items():
        name, text = sources[key]
        if text is None or text == "":
            continue
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= minimum and (not whole or value.is_integer())):
            config_error(f"{name}: found {json.dumps(text)}, expected {expected}")
        params[key] = number(text)
    return params


class MomentumSignal:
    """The crossing detector of lib/momentum-signal.mjs, line for line (read that file's comment).

    The mean is a plain loop in window order (not sum(), which Python 3.12 made compensated), so
    the floats agree with JavaScript's to the last bit.
    """

    def __init__(self, params):
        self.params = params
        self.symbols = {}  # symbol -> {"window": [mid, ...] oldest first, "zone": str}

    def on_price(self, symbol, mid):
        """Feeds one mid price; returns "buy", "sell" or None (no crossing on this tick)."""
        state = self.symbols.setdefault(symbol, {"window": [], "zone": "inside"})
        lookback = self.params["lookback"]
        threshold_bps = self.params["thresholdBps"]
        signal_ = None
        if len(state["window"]) == lookback:
            total = 0.0
            for price in state["window"]:
                total += price
            mean = total / lookback
            zone = "inside"
            if mid > mean * (1 + threshold_bps / 10000):
                zone = "above"
            elif mid < mean * (1 - threshold_bps / 10000):
                zone = "below"
            if zone != state["zone"] and zone != "inside":
                signal_ = "buy" if zone == "above" else "sell"
            state["zone"] = zone
            state["window"].pop(0)
        state["window"].append(mid)
        return signal_


def order_side(signal_, position, pending_buy, pending_sell, params):
    """The side to trade for a signal, or None when the position limit forbids it."""
    if signal_ == "buy" and position + pending_buy + params["qty"] <= params["maxPosition"]:
        return "buy"
    if signal_ == "sell" and position - pending_sell - params["qty"] >= -params["maxPosition"]:
        return "sell"
    return None


def dataset_files(path):
    """The CSV files of a dataset path (a file, or a directory of *.csv), in the order to read them."""
    if not os.path.exists(path):
        raise TickDataError(f"{path}: cannot read the dataset (ENOENT)")
    if not os.path.isdir(path):
        return [path]
    names = sorted(n for n in os.listdir(path) if n.endswith(".csv"))
    if not names:
        raise TickDataError(f"{path}: a directory with no .csv file")
    return [os.path.join(path, n) for n in names]


def read_ticks(path):
    """Every tick of the dataset, in file order, as dicts like the Node reader's."""
    for file in dataset_files(path):
        columns = None
        with open(file, encoding="utf-8", newline="") as lines:
            for line_no, line in enumerate(lines, start=1):
                line = line.rstrip("\r\n")
                if line.strip() == "":
                    continue
                fields = line.split(",")
                if columns is None:
                    names = [f.strip() for f in fields]
                    for column in TICK_COLUMNS:
                        if column not in names:
                            raise TickDataError(
                                f'{file}:1: header: column "{column}" missing, '
                                f"expected the columns {','.join(TICK_COLUMNS)}"
                            )
                    columns = {c: names.index(c) for c in TICK_COLUMNS}
                    continue
                yield parse_row(fields, columns, f"{file}:{line_no}")
        if columns is None:
            raise TickDataError(f"{file}: empty, expected a header line")


def parse_row(fields, columns, where):
    def text(column):
        index = columns[column]
        if index >= len(fields):
            raise TickDataError(f"{where}: {column}: missing, expected a value")
        return fields[index].strip()

    def num(column, whole):
        raw = text(column)
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or (whole and not value.is_integer()):
            expected = "an integer" if whole else "a number"
            raise TickDataError(f"{where}: {column}: found {json.dumps(raw)}, expected {expected}")
        return int(value) if whole else value

    symbol = text("symbol")
    if symbol == "":
        raise TickDataError(f'{where}: symbol: found "", expected a symbol')
    return {
        "ts": num("ts", True),
        "symbol": symbol,
        "bid": num("bid", False),
        "ask": num("ask", False),
        "last": num("last", False),
        "size": num("size", True),
    }


def main():
    parser = argparse.ArgumentParser(description="Momentum backtest over HIVE_DATASET_TICKS.")
    parser.add_argument("--lookback")
    parser.add_argument("--threshold-bps")
    parser.add_argument("--qty")
    parser.add_argument("--max-position")
    parser.add_argument("--out")
    parser.add_argument("--progress-every", default="100000")
    parser.add_argument("--dataset")
    flags = parser.parse_args()  # a bad flag: usage on stderr, exit code 2
    env = os.environ

    def source(flag, variable):
        value = getattr(flags, flag.replace("-", "_"))
        return (f"--{flag}", value) if value is not None else (variable, env.get(variable))

    params = compile_params(
        {
            "lookback": source("lookback", "LOOKBACK"),
            "thresholdBps": source("threshold-bps", "THRESHOLD_BPS"),
            "qty": source("qty", "QTY"),
            "maxPosition": source("max-position", "MAX_POSITION"),
        }
    )
    symbols = [s.strip() for s in env["SYMBOLS"].split(",")] if env.get("SYMBOLS") else None
    try:
        progress_every = int(flags.progress_every)
    except ValueError:
        progress_every = 0
    if progress_every < 1:
        config_error(
            f"--progress-every: found {json.dumps(flags.progress_every)}, expected a whole number above 0"
        )

    dataset = flags.dataset or env.get("HIVE_DATASET_TICKS")
    if not dataset:
        config_error(
            "no dataset: HIVE_DATASET_TICKS is not set (the runner sets it for a service whose layout "
            "lists `datasets: [{ name: ticks, ... }]`) and no --dataset was given"
        )

    if flags.out:
        out = flags.out
    elif env.get("HIVE_RESULTS_DIR") and env.get("HIVE_DEPLOYMENT_ID"):
        out = os.path.join(env["HIVE_RESULTS_DIR"], f"{env['HIVE_DEPLOYMENT_ID']}.json")
    else:
        out = os.path.join("results", f"{env.get('HIVE_SERVICE') or 'backtest'}.json")

    # SIGTERM (or Ctrl-C when run by hand): finish the tick in hand, then write partial results.
    stop = {"requested": False}

    def request_stop(_signum, _frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    started_at = datetime.now(timezone.utc)
    log("start", dataset=dataset, out=out, params=params, symbols=symbols, service=env.get("HIVE_SERVICE"))

    # The simulated account: position and cash per symbol, marked to each symbol's last mid.
    momentum = MomentumSignal(params)
    position = {}  # symbol -> filled quantity (long > 0), in first-seen order
    last_mid = {}
    cash = 0.0
    peak = 0.0
    max_drawdown = 0.0
    ticks = 0
    trades = []

    def equity():
        value = cash
        for symbol, quantity in position.items():
            value += quantity * last_mid[symbol]
        return value

    try:
        for tick in read_ticks(dataset):
            if stop["requested"]:
                break
            if symbols is not None and tick["symbol"] not in symbols:
                continue
            ticks += 1
            symbol = tick["symbol"]
            mid = (tick["bid"] + tick["ask"]) / 2
            position.setdefault(symbol, 0)
            last_mid[symbol] = mid

            # In a backtest every order fills at once, so nothing is ever pending.
            held = position[symbol]
            side = order_side(momentum.on_price(symbol, mid), held, 0, 0, params)
            if side is not None:
                price = tick["ask"] if side == "buy" else tick["bid"]
                signed = params["qty"] if side == "buy" else -params["qty"]
                position[symbol] = held + signed
                cash -= signed * price
                trades.append(
                    {
                        "n": len(trades) + 1,
                        "ts": tick["ts"],
                        "symbol": symbol,
                        "side": side,
                        "qty": params["qty"],
                        "price": price,
                        "position": held + signed,
                    }
                )

            value = equity()
            if value > peak:
                peak = value
            if peak - value > max_drawdown:
                max_drawdown = peak - value
            if ticks % progress_every == 0:
                log("progress", ticks=ticks, trades=len(trades), pnl=value)
    except (TickDataError, OSError) as err:
        print(f"backtest: {err}", file=sys.stderr, flush=True)
        sys.exit(1)

    finished_at = datetime.now(timezone.utc)
    iso = lambda t: t.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: E731
    results = {
        "schema": "hive.backtest-results/1",
        "engine": "python",
        "strategy": "momentum",
        "deploymentId": env.get("HIVE_DEPLOYMENT_ID"),
        "layout": env.get("HIVE_LAYOUT"),
        "service": env.get("HIVE_SERVICE"),
        "nodeId": env.get("HIVE_NODE_ID"),
        "dataset": dataset,
        "params": {**params, "symbols": symbols},
        "complete": not stop["requested"],
        "ticksProcessed": ticks,
        "tradeCount": len(trades),
        "positions": position,
        "pnl": equity(),
        "maxDrawdown": max_drawdown,
        "startedAt": iso(started_at),
        "finishedAt": iso(finished_at),
        "elapsedMs": round((finished_at - started_at).total_seconds() * 1000),
        "trades": trades,
    }

    # Written to a temporary name and renamed, so a reader never sees half a file.
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(f"{out}.tmp", "w", encoding="utf-8") as f:
        f.write(json.dumps(results, indent=2) + "\n")
    os.replace(f"{out}.tmp", out)
    log(
        "done",
        complete=results["complete"],
        ticks=ticks,
        trades=len(trades),
        pnl=results["pnl"],
        maxDrawdown=max_drawdown,
        positions=position,
        out=out,
        elapsedMs=results["elapsedMs"],
    )


if __name__ == "__main__":
    main()
