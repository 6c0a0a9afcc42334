import { ErrorCode, HiveError } from "../core/hive-error.ts";

/** One problem in a file a user wrote: where it is, what was found and what was expected. */
export interface ValidationIssue {
  /** The file, as the user named it; absent for input that did not come from a file. */
  readonly file?: string;
  /** 1-based line and column in the file, when known. */
  readonly line?: number;
  readonly column?: number;
  /** The path of the field, e.g. `services[1].resources.memory`; empty for the whole document. */
  readonly path: string;
  /** What was there, printed briefly; absent when the field was missing. */
  readonly found?: string;
  /** What would have been accepted, in words. */
  readonly expected: string;
}

/** Formats one issue on one line: `file:line:col: path: found X, expected Y`. */
export function formatIssue(issue: ValidationIssue): string {
  let where = issue.file ?? "";
  if (issue.file !== undefined && issue.line !== undefined) where += `:${issue.line}:${issue.column ?? 1}`;
  const field = issue.path === "" ? "(document)" : issue.path;
  const found = issue.found === undefined ? "missing" : `found ${issue.found}`;
  return `${where === "" ? "" : `${where}: `}${field}: ${found}, expected ${issue.expected}`;
}

/** A file or request that failed validation; carries every issue found, not only the first. */
export class ValidationError extends HiveError {
  override readonly name = "ValidationError";

  constructor(readonly issues: readonly ValidationIssue[]) {
    super(ErrorCode.InvalidArgument, issues.map(formatIssue).join("\n"));
  }
}

/** Prints a field path as people write it: `services[1].resources.memory`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Prints a found value briefly, for an error message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === "object") return "an object";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
