/**
 * Reads a tick dataset: CSV with a header line naming at least the columns
 * `ts,symbol,bid,ask,last,size` (in any order; other columns are ignored).
 *
 *   ts      integer milliseconds since the Unix epoch
 *   symbol  the instrument, e.g. ESU6
 *   bid, ask, last   prices (decimal numbers)
 *   size    quantity of the last trade (integer)
 *
 * A dataset is what HIVE_DATASET_<NAME> points at: a file, or a directory whose `*.csv` files are
 * read in name order. Rows are streamed, never the whole file at once: a real dataset is many
 * GiB, and the runner has already put it in RAM (tmpfs), so reading it is fast.
 */
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** The columns a tick dataset must have. */
export const TICK_COLUMNS = ["ts", "symbol", "bid", "ask", "last", "size"];

/** A dataset that cannot be read as ticks; the message names the file, line and column. */
export class TickDataError extends Error {
  name = "TickDataError";
}

/** The CSV files of a dataset path (a file, or a directory of `*.csv`), in the order to read them. */
export async function datasetFiles(path) {
  const info = await stat(path).catch((err) => {
    throw new TickDataError(`${path}: cannot read the dataset (${err.code ?? err.message})`);
  });
  if (!info.isDirectory()) return [path];
  const names = (await readdir(path)).filter((n) => n.endsWith(".csv")).sort();
  if (names.length === 0) throw new TickDataError(`${path}: a directory with no .csv file`);
  return names.map((n) => join(path, n));
}

/** Every tick of the dataset at `path`, in file order: `{ ts, symbol, bid, ask, last, size }`. */
export async function* readTicks(path) {
  for (const file of await datasetFiles(path)) yield* readTickFile(file);
}

async function* readTickFile(file) {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let lineNo = 0;
  let columns;
  try {
    for await (const line of lines) {
      lineNo += 1;
      if (line.trim() === "") continue;
      const fields = line.split(",");
      if (columns === undefined) {
        columns = headerIndexes(fields, file);
        continue;
      }
      yield parseRow(fields, columns, `${file}:${lineNo}`);
    }
  } finally {
    lines.close();
  }
  if (columns === undefined) throw new TickDataError(`${file}: empty, expected a header line`);
}

function headerIndexes(fields, file) {
  const names = fields.map((f) => f.trim());
  const indexes = {};
  for (const column of TICK_COLUMNS) {
    indexes[column] = names.indexOf(column);
    if (indexes[column] < 0)
      throw new TickDataError(
        `${file}:1: header: column "${column}" missing, expected the columns ${TICK_COLUMNS.join(",")}`,
      );
  }
  return indexes;
}

function parseRow(fields, columns, where) {
  const text = (column) => {
    const value = fields[columns[column]];
    if (value === undefined) throw new TickDataError(`${where}: ${column}: missing, expected a value`);
    return value.trim();
  };
  const number = (column, integer) => {
    const raw = text(column);
    const value = raw === "" ? NaN : Number(raw);
    if (!Number.isFinite(value) || (integer && !Number.isSafeInteger(value)))
      throw new TickDataError(
        `${where}: ${column}: found ${JSON.stringify(raw)}, expected ${integer ? "an integer" : "a number"}`,
      );
    return value;
  };
  const symbol = text("symbol");
  if (symbol === "") throw new TickDataError(`${where}: symbol: found "", expected a symbol`);
  return {
    ts: number("ts", true),
    symbol,
    bid: number("bid", false),
    ask: number("ask", false),
    last: number("last", false),
    size: number("size", true),
  };
}
