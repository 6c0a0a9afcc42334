/**
 * The error body of the HTTP API and the mapping between HiveError codes and HTTP statuses. Both
 * ends of the wire use this file: the server to answer, the CLI's client to rebuild the HiveError
 * (a ValidationError keeps its issues, so the CLI prints `file:line: field` lines).
 */
import { z } from "zod";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import { ValidationError, type ValidationIssue } from "../../domain/index.ts";

/** What every failed request answers: `{ error: { code, message, issues? } }`. */
export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    /** Present when the code is `invalid_argument` and the input failed validation. */
    readonly issues?: readonly ValidationIssue[];
  };
}

/** The HTTP status of each error code. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.InvalidArgument:
      return 400;
    case ErrorCode.Unauthenticated:
      return 401;
    case ErrorCode.PermissionDenied:
      return 403;
    case ErrorCode.NotFound:
      return 404;
    case ErrorCode.AlreadyExists:
      return 409;
    // 422, not 409, so that "cannot be done now" stays apart from "already exists" for curl users.
    case ErrorCode.FailedPrecondition:
      return 422;
    case ErrorCode.Unavailable:
      return 503;
    case ErrorCode.Internal:
      return 500;
  }
}

/** The code of a status whose body is not ours (a proxy's 502, fastify's own 415...). */
export function errorCodeOfStatus(status: number): ErrorCode {
  if (status === 404) return ErrorCode.NotFound;
  if (status === 401) return ErrorCode.Unauthenticated;
  if (status === 403) return ErrorCode.PermissionDenied;
  if (status === 409) return ErrorCode.AlreadyExists;
  if (status === 422) return ErrorCode.FailedPrecondition;
  if (status === 502 || status === 503 || status === 504) return ErrorCode.Unavailable;
  if (status >= 400 && status < 500) return ErrorCode.InvalidArgument;
  return ErrorCode.Internal;
}

/** The body that reports `err`. */
export function toErrorBody(err: HiveError): ErrorBody {
  if (err instanceof ValidationError) {
    return { error: { code: err.code, message: err.message, issues: err.issues } };
  }
  return { error: { code: err.code, message: err.message } };
}

const issueSchema = z.object({
  file: z.string().optional(),
  line: z.number().optional(),
  column: z.number().optional(),
  path: z.string(),
  found: z.string().optional(),
  expected: z.string(),
});

const errorBodySchema = z.object({
  error: z.object({
    code: z.enum(Object.values(ErrorCode)),
    message: z.string(),
    issues: z.array(issueSchema).optional(),
  }),
});

/**
 * Rebuilds the HiveError a response reports. A body that is not an {@link ErrorBody} (a proxy's
 * page, say) still gives one line: the status and the start of the text.
 */
export function fromErrorBody(status: number, text: string): HiveError {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined; // not JSON (a proxy's page): reported below by its status and first line
  }
  const parsed = errorBodySchema.safeParse(json);
  if (!parsed.success) {
    const excerpt = text.trim().split("\n")[0]?.slice(0, 200) ?? "";
    return new HiveError(errorCodeOfStatus(status), `HTTP ${status}${excerpt === "" ? "" : `: ${excerpt}`}`);
  }
  const { code, message, issues } = parsed.data.error;
  if (code === ErrorCode.InvalidArgument && issues !== undefined && issues.length > 0) {
    return new ValidationError(issues);
  }
  return new HiveError(code, message);
}
