/**
 * Reading a deployment's log as a stream of chunks, for `hive logs` and `hive logs -f`. The log
 * is the rotated file (`.1`) followed by the current one (see log-files.ts); a tail is taken
 * across both. Every read is checked against the rotation counter of log-rotation.ts, before
 * and after: a read that a rotation overlapped is thrown away and done again. A follower polls;
 * when the counter has gone up by one it first reads the rest of the old file from `.1`; by
 * more (two rotations between two looks: a whole cap of output within one poll), it resumes at
 * the start of `.1`: a gap, never a repeat. It ends when the exit marker exists and everything
 * before it has been read, or when the AbortSignal fires.
 */
import { open, stat } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { exitMarkerPath, logPath, rotatedLogPath, type LogStream } from "./log-files.ts";
import { readGeneration, type Generation } from "./log-rotation.ts";

/** Options of {@link readLog}. */
export interface ReadLogOptions {
  /** Start this many bytes before the end (across the rotated and the current file); default all. */
  readonly tailBytes?: number;
  /** Keep yielding appended data until the process's log is closed or `signal` aborts. */
  readonly follow?: boolean;
  /** Ends the iteration (normally, without an error). */
  readonly signal?: AbortSignal;
  /** How often a follower looks for new data, in ms; default 100. */
  readonly pollMs?: number;
}

/** The most bytes read from the current file between two looks at the rotation counter. */
const ROUND_BYTES = 256 * 1024;

/** The most bytes one yielded chunk holds. */
const CHUNK_BYTES = 64 * 1024;

/** How long to wait for a rotation under way to finish, in ms. */
const ROTATION_WAIT_MS = 5;

/** A deployment's log of `stream` as Buffer chunks; nothing at all if it never wrote. */
export async function* readLog(
  logDir: string,
  deploymentId: string,
  stream: LogStream,
  options: ReadLogOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const current = logPath(logDir, deploymentId, stream);
  const rotated = rotatedLogPath(logDir, deploymentId, stream);
  const marker = exitMarkerPath(logDir, deploymentId);
  const { signal, follow = false } = options;
  const pause = async (ms: number): Promise<boolean> => {
    try {
      await sleep(ms, undefined, signal ? { signal } : {});
      return true;
    } catch {
      return false; // aborted
    }
  };
  const same = (a: Generation, b: Generation) => a.count === b.count && a.rotating === b.rotating;
  // The first look, taken between rotations: the tail across `.1` and the current file.
  let generation: Generation;
  let position: number;
  let limit: number;
  for (;;) {
    generation = await readGeneration(current);
    if (generation.rotating) {
      if (!(await pause(ROTATION_WAIT_MS))) return;
      continue;
    }
    const oldSize = (await sizeOf(rotated)) ?? 0;
    limit = (await sizeOf(current)) ?? 0;
    const start = Math.max(0, oldSize + limit - (options.tailBytes ?? Infinity));
    const old = start < oldSize ? await readAt(rotated, start, oldSize - start) : Buffer.alloc(0);
    if (!same(generation, await readGeneration(current))) continue;
    yield* chunks(old);
    position = Math.max(0, start - oldSize);
    break;
  }
  for (;;) {
    if (signal?.aborted) return;
    // The marker is looked at BEFORE reading: whatever was written before it appeared is read.
    const closed = follow && (await sizeOf(marker)) !== undefined;
    const before = await readGeneration(current);
    if (before.rotating) {
      if (!(await pause(ROTATION_WAIT_MS))) return;
      continue;
    }
    if (before.count !== generation.count) {
      const from = before.count === generation.count + 1 ? position : 0;
      const rest = await readAt(rotated, from, Math.max(0, ((await sizeOf(rotated)) ?? 0) - from));
      if (!same(before, await readGeneration(current))) continue;
      yield* chunks(rest);
      generation = before;
      position = 0;
      if (!follow) return; // a snapshot: what was there when we started has been read
      continue;
    }
    const chunk = await readAt(
      current,
      position,
      follow ? ROUND_BYTES : Math.min(ROUND_BYTES, limit - position),
    );
    if (!same(before, await readGeneration(current))) continue; // the read overlapped a rotation
    if (chunk.length > 0) {
      yield* chunks(chunk);
      position += chunk.length;
      if (follow || position < limit) continue;
    }
    if (!follow || closed) return;
    if (!(await pause(options.pollMs ?? 100))) return;
  }
}

/** A buffer as chunks of at most CHUNK_BYTES (views, not copies). */
function* chunks(buffer: Buffer): Generator<Buffer, void, undefined> {
  for (let at = 0; at < buffer.length; at += CHUNK_BYTES) yield buffer.subarray(at, at + CHUNK_BYTES);
}

/** Up to `max` bytes of a file from `at`; empty at its end or if it is missing. */
async function readAt(path: string, at: number, max: number): Promise<Buffer> {
  if (max <= 0) return Buffer.alloc(0);
  let file;
  try {
    file = await open(path, "r");
  } catch {
    return Buffer.alloc(0); // missing (not written yet, or rotated away): nothing to read
  }
  try {
    const length = Math.min(max, (await file.stat()).size - at);
    if (length <= 0) return Buffer.alloc(0);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await file.read(buffer, 0, length, at);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** The size of a file, or undefined if it does not exist. */
async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined; // missing
  }
}
