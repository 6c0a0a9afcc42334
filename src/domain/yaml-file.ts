import { readFileSync } from "node:fs";
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from "yaml";
import type { z } from "zod";
import { describeValue, formatPath, ValidationError, type ValidationIssue } from "./validation-error.ts";

/** A YAML file parsed and validated against a schema, with a way back from a field to its line. */
export interface ParsedYaml<T> {
  readonly value: T;
  /** The raw parsed object, before the schema's defaults and transforms. */
  readonly raw: unknown;
  /** Turns an issue found later (e.g. by the layout engine) into one that names the file and line. */
  locate(issue: Omit<ValidationIssue, "file" | "line" | "column">): ValidationIssue;
}

/** Reads a YAML file from disk; a missing or unreadable file is a ValidationError naming it. */
export function readYamlFile<T>(file: string, schema: z.ZodType<T>): ParsedYaml<T> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(err);
    throw new ValidationError([{ file, path: "", found: reason, expected: "a readable YAML file" }]);
  }
  return parseYaml(text, file, schema);
}

/** Parses YAML text; syntax and schema errors become one ValidationError listing every issue. */
export function parseYaml<T>(text: string, file: string, schema: z.ZodType<T>): ParsedYaml<T> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ValidationError(
      doc.errors.map((e) => ({
        file,
        // linePos is only filled in with prettyErrors, so the line is worked out from the offset.
        line: lineCounter.linePos(e.pos[0]).line,
        column: lineCounter.linePos(e.pos[0]).col,
        path: "",
        found: "invalid YAML",
        expected: `valid YAML (${e.message.split("\n")[0] ?? e.code})`,
      })),
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (err) {
    // The yaml library's own refusals while building values: an alias before its anchor, an
    // alias bomb ("Excessive alias count"). Found by fuzzing the layout loader.
    throw new ValidationError([
      {
        file,
        line: 1,
        column: 1,
        path: "",
        found: "invalid YAML",
        expected: `valid YAML (${err instanceof Error ? err.message.trim() : String(err)})`,
      },
    ]);
  }
  const locate = (
    issue: Omit<ValidationIssue, "file" | "line" | "column">,
    keys: readonly PropertyKey[] = [],
  ) => {
    const pos = position(doc, lineCounter, keys);
    return { file, ...pos, ...issue };
  };
  const result = schema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    throw new ValidationError(
      result.error.issues.map((i) => {
        // An unknown field is located at its own key, not at the start of the mapping holding it.
        const key =
          i.code === "unrecognized_keys" ? keyPosition(doc, lineCounter, i.path, i.keys[0]) : undefined;
        return key === undefined ? locate(toIssue(i), i.path) : { file, ...key, ...toIssue(i) };
      }),
    );
  }
  return {
    value: result.data,
    raw,
    locate: (issue) => locate(issue, parsePath(issue.path)),
  };
}

function toIssue(issue: z.core.$ZodIssue): Omit<ValidationIssue, "file" | "line" | "column"> {
  const path = formatPath(issue.path);
  const input = "input" in issue ? issue.input : undefined;
  switch (issue.code) {
    case "invalid_type":
      return {
        path,
        found: input === undefined ? undefined : describeValue(input),
        expected:
          issue.expected === "object" ? "a mapping" : issue.expected === "array" ? "a list" : issue.expected,
      };
    case "invalid_value":
      return {
        path,
        found: input === undefined ? undefined : describeValue(input),
        expected: `one of ${issue.values.map((v) => String(v)).join(", ")}`,
      };
    case "unrecognized_keys":
      return {
        path: formatPath([...issue.path, issue.keys[0] ?? ""]),
        found: `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}`,
        expected: "only the documented fields (is it misspelt?)",
      };
    case "too_small":
      return {
        path,
        found: describeValue(input),
        expected: issue.origin === "array" ? `at least ${String(issue.minimum)} item(s)` : issue.message,
      };
    default:
      return { path, found: input === undefined ? undefined : describeValue(input), expected: issue.message };
  }
}

/** Splits `services[1].resources.memory` back into keys. */
function parsePath(path: string): PropertyKey[] {
  const keys: PropertyKey[] = [];
  for (const part of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (part[2] !== undefined) keys.push(Number(part[2]));
    else if (part[1] !== undefined) keys.push(part[1]);
  }
  return keys;
}

/** The line and column of the key `key` of the mapping at `path`, if it is there. */
function keyPosition(doc: Document, lineCounter: LineCounter, path: readonly PropertyKey[], key?: string) {
  const map: unknown = doc.getIn(path as unknown[], true);
  if (!isMap(map)) return undefined;
  const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
  if (pair === undefined || !isNode(pair.key) || !pair.key.range) return undefined;
  const { line, col } = lineCounter.linePos(pair.key.range[0]);
  return { line, column: col };
}

/** The line and column of the deepest node on `keys` that exists in the document. */
function position(doc: Document, lineCounter: LineCounter, keys: readonly PropertyKey[]) {
  for (let n = keys.length; n >= 0; n--) {
    const node: unknown = doc.getIn(keys.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) {
      const { line, col } = lineCounter.linePos(node.range[0]);
      return { line, column: col };
    }
  }
  return {};
}
