/** Where the CLI writes, so that commands can be tested without a terminal or a process exit. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Records the exit status; the command returns normally. */
  exit(code: number): void;
}

let quietOnEpipe = false;
/** Set by the daemons: a stdout whose reader went away must not end them. */
let daemon = false;

/**
 * Called by the long-running commands (runner, orchestrator, gateway, dev): from then on a reader
 * of stdout or stderr that goes away ends nothing (what they would print there is lost).
 * A runner that exited on a closed pipe would self-fence and kill its live strategies.
 */
export function runAsDaemon(): void {
  daemon = true;
}

/**
 * The real terminal. A reader that goes away (`hive logs -f | head`) ends the command quietly
 * with exit 0, as a Unix filter does, instead of an unhandled EPIPE with a stack; a daemon (see
 * {@link runAsDaemon}) goes on.
 */
export function processIo(): CliIo & { code: number } {
  if (!quietOnEpipe) {
    quietOnEpipe = true;
    // stderr too: a daemon whose error line meets a closed pipe must still close cleanly.
    for (const stream of [process.stdout, process.stderr])
      stream.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code !== "EPIPE") throw error;
        if (!daemon) process.exit(0);
      });
  }
  const io = {
    code: 0,
    out: (line: string) => void process.stdout.write(`${line}\n`),
    err: (line: string) => void process.stderr.write(`${line}\n`),
    exit: (code: number) => {
      io.code = code;
    },
  };
  return io;
}

/** An in-memory terminal for tests. */
export function memoryIo(): CliIo & { stdout: string[]; stderr: string[]; code: number } {
  const io = {
    stdout: [] as string[],
    stderr: [] as string[],
    code: 0,
    out: (line: string) => void io.stdout.push(line),
    err: (line: string) => void io.stderr.push(line),
    exit: (code: number) => {
      io.code = code;
    },
  };
  return io;
}
