/**
 * Keeping log files under their cap while the process holds them open (see log-files.ts for why
 * it writes to them directly), "copytruncate" style: every check interval, a file at or over the
 * cap is copied to `<file>.1` and truncated to zero; thanks to O_APPEND the process's next write
 * lands at the new start. On disk that is at most about 2 × cap, plus whatever the process writes
 * within one check interval. A write that lands between the last read of the copy and the
 * truncate is lost: a window of one system call, the price of not sitting in the data path.
 *
 * Followers (read-log.ts) must never mistake new output for old or the other way round, so each
 * rotation is announced in a counter file, `<file>.gen`, before it touches anything:
 *   1. write "<n+1> rotating"                                            (followers hold still)
 *   2. copy the file to `.1.tmp`, rename it to `.1`, append what was written since the copy,
 *      truncate the file
 *   3. write "<n+1>"                                                      (followers read `.1` on)
 * A follower trusts what it read only if the counter said the same, and not "rotating", before
 * and after the read: then no rename or truncate happened in between.
 */
import { open, readFile, rename, stat, writeFile } from "node:fs/promises";

/** A log file's rotation counter: how many rotations, and whether one is under way. */
export interface Generation {
  readonly count: number;
  readonly rotating: boolean;
}

/** The counter file of a log file. */
export function generationPath(path: string): string {
  return `${path}.gen`;
}

/** The rotation counter of a log file; {0, false} if it was never rotated. */
export async function readGeneration(path: string): Promise<Generation> {
  let text: string;
  try {
    text = await readFile(generationPath(path), "utf8");
  } catch {
    return { count: 0, rotating: false }; // no counter file: never rotated
  }
  const [count, state] = text.trim().split(" ");
  return { count: Number(count) || 0, rotating: state === "rotating" };
}

/** Replaces the counter atomically (temporary file and rename). */
async function writeGeneration(path: string, generation: Generation): Promise<void> {
  const file = generationPath(path);
  await writeFile(`${file}.tmp`, `${generation.count}${generation.rotating ? " rotating" : ""}\n`);
  await rename(`${file}.tmp`, file);
}

/** Rotates `path` to `path.1` if it has reached `capBytes` (see the file comment); returns whether it did. */
export async function rotateIfFull(path: string, capBytes: number): Promise<boolean> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return false; // no log file yet: nothing to rotate
  }
  if (size < capBytes) return false;
  const count = (await readGeneration(path)).count + 1;
  await writeGeneration(path, { count, rotating: true });
  const source = await open(path, "r+");
  try {
    const temporary = `${path}.1.tmp`;
    const copied = await appendFrom(source, 0, temporary, "w");
    await rename(temporary, `${path}.1`);
    // Right after the read that finds the end, the truncate: only a write in between is lost.
    await appendFrom(source, copied, `${path}.1`, "a");
    await source.truncate(0);
  } finally {
    await source.close();
    await writeGeneration(path, { count, rotating: false });
  }
  return true;
}

/** Appends `source` from `from` to its end onto the file `target`; returns the bytes copied. */
async function appendFrom(
  source: Awaited<ReturnType<typeof open>>,
  from: number,
  target: string,
  flags: "w" | "a",
): Promise<number> {
  const out = await open(target, flags);
  try {
    const buffer = Buffer.alloc(64 * 1024);
    let at = from;
    for (;;) {
      const { bytesRead } = await source.read(buffer, 0, buffer.length, at);
      if (bytesRead === 0) return at - from;
      await out.write(buffer, 0, bytesRead);
      at += bytesRead;
    }
  } finally {
    await out.close();
  }
}

/** Keeps one deployment's log files under their cap by checking them every interval. */
export class LogCapper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  /** How many rotations happened; for tests and metrics. */
  rotations = 0;
  /** How many checks failed (a full disk, say); each is also reported to `onError`. */
  errors = 0;

  constructor(
    private readonly paths: readonly string[],
    private readonly capBytes: number,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  /** Starts the periodic check; the timer is unref'd so it never keeps the runner alive. */
  start(): void {
    if (this.timer) return;
    // A runner that died in the middle of a rotation left its counter at "rotating": settle it,
    // or followers would wait for ever.
    this.running = this.running.then(() => this.settleInterrupted());
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.check());
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Checks every file once now. */
  async check(): Promise<void> {
    for (const path of this.paths) {
      try {
        if (await rotateIfFull(path, this.capBytes)) this.rotations++;
      } catch (error) {
        this.errors++;
        this.onError(error);
      }
    }
  }

  /** Stops the timer, waits for a check in progress and does a last check. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    await this.check();
  }

  private async settleInterrupted(): Promise<void> {
    for (const path of this.paths) {
      try {
        const generation = await readGeneration(path);
        if (generation.rotating) await writeGeneration(path, { count: generation.count, rotating: false });
      } catch (error) {
        this.errors++;
        this.onError(error);
      }
    }
  }
}
