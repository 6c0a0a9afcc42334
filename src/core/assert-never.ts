import { ErrorCode, HiveError } from "./hive-error.ts";

/** Marks a branch the type checker proves unreachable; throws if it is reached at run time anyway. */
export function assertNever(value: never, what = "value"): never {
  throw new HiveError(ErrorCode.Internal, `unexpected ${what}: ${JSON.stringify(value)}`);
}
