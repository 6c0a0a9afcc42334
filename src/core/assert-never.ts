/** Marks a branch the type checker proves unreachable; throws if it is reached at run time anyway. */
export function assertNever(value: never, what = "value"): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
