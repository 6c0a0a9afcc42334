/**
 * One error type for the whole of The Hive, with a closed set of codes (after Connect-ES's
 * ConnectError). Callers branch on `code`, never on the message; the message is for people and
 * says what was wrong, where, and what was expected.
 */

/** The closed set of error codes. */
export const ErrorCode = {
  /** Input that can never be accepted as it is: a bad file, flag or request. */
  InvalidArgument: "invalid_argument",
  /** A named thing (node, layout, service, deployment) does not exist. */
  NotFound: "not_found",
  /** The thing being created exists already. */
  AlreadyExists: "already_exists",
  /** The request is valid but the system is not in a state to do it (e.g. nothing can place it). */
  FailedPrecondition: "failed_precondition",
  /** A peer (orchestrator, runner, gateway) cannot be reached; retrying may help. */
  Unavailable: "unavailable",
  /** The caller is not allowed to do this (bad join token, unknown key, fenced). */
  PermissionDenied: "permission_denied",
  /** The caller did not say who it is, or its credential is unknown, revoked or expired (HTTP 401). */
  Unauthenticated: "unauthenticated",
  /** Something that should not happen did: a bug. */
  Internal: "internal",
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The base error of The Hive. */
export class HiveError extends Error {
  override readonly name: string = "HiveError";

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Normalises whatever was caught into a HiveError, keeping the original as `cause`. */
  static from(reason: unknown, code: ErrorCode = ErrorCode.Internal): HiveError {
    if (reason instanceof HiveError) return reason;
    if (reason instanceof Error) return new HiveError(code, reason.message, { cause: reason });
    return new HiveError(code, String(reason), { cause: reason });
  }
}
