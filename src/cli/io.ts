/** Where the CLI writes, so that commands can be tested without a terminal or a process exit. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Records the exit status; the command returns normally. */
  exit(code: number): void;
}

let quietOnEpipe = false;

/**
 * The real terminal. A reader that goes away (`hive logs -f | head`) ends the command quietly
 * with exit 0, as a Unix filter does, instead of an unhandled EPIPE with a stack.
 */
export function processIo(): CliIo & { code: number } {
  if (!quietOnEpipe) {
    quietOnEpipe = true;
    process.stdout.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(0);
      throw error;
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
