/**
 * What the `hive` command's exit status means, so scripts can branch on it (in the manner of
 * sysexits.h, kept to a few).
 */
export const ExitCode = {
  /** Done as asked. */
  Ok: 0,
  /** The request was valid but could not be carried out (e.g. nothing can place the layout). */
  Failed: 1,
  /** Bad input: an invalid file, an unknown name, a wrong flag. Nothing was changed. */
  BadInput: 2,
  /** A peer (orchestrator, runner) could not be reached. */
  Unavailable: 3,
  /** A bug: please report it with HIVE_DEBUG=1 output. */
  Internal: 70,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
