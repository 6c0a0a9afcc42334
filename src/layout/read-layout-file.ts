/**
 * Reads layout and manifest files from disk into validated values. Whatever is wrong (a missing
 * file, bad YAML, a schema error, a wiring error) comes out as one ValidationError whose issues
 * name the file and line, never as a stack trace.
 *
 * A layout may keep a service in a file of its own: a services entry `{ file: feeder.yaml }` is
 * read (relative to the layout), checked as a manifest, and put in place of the entry before the
 * layout's schema runs. Its issues name *that* file, with paths inside it.
 */
import { dirname, isAbsolute, join } from "node:path";
import { z } from "zod";
import {
  layoutSchema,
  readYamlFile,
  serviceManifestSchema,
  ValidationError,
  type Layout,
  type ParsedYaml,
  type ServiceManifest,
  type ValidationIssue,
} from "../domain/index.ts";
import { validateLayout } from "./validate-layout.ts";

/** Reads and validates a service manifest file. */
export function readManifestFile(file: string): ServiceManifest {
  return readYamlFile(file, serviceManifestSchema).value;
}

/** Reads a layout file, inlines its `file:` services, and checks its schema and its wiring. */
export function readLayoutFile(file: string): Layout {
  const { parsed, manifests } = parseLayoutFile(file);
  const issues = validateLayout(parsed.value);
  if (issues.length > 0) throw new ValidationError(issues.map((i) => locateIssue(i, parsed, manifests)));
  return parsed.value;
}

/**
 * Places issues found elsewhere in a layout's text with its services inlined (the orchestrator's
 * checks at `hive apply`) in the files the user wrote: the layout's own, or the manifest file of
 * the service the path is inside. The file must read as readLayoutFile reads it.
 */
export function locateLayoutIssues(file: string, issues: readonly ValidationIssue[]): ValidationIssue[] {
  const { parsed, manifests } = parseLayoutFile(file);
  return issues.map(({ path, found, expected }) =>
    locateIssue({ path, expected, ...(found === undefined ? {} : { found }) }, parsed, manifests),
  );
}

function parseLayoutFile(file: string): {
  parsed: ParsedYaml<Layout>;
  manifests: Map<number, ParsedYaml<ServiceManifest>>;
} {
  const manifests = new Map<number, ParsedYaml<ServiceManifest>>();
  const schema = z.preprocess(
    (raw, ctx) => inlineManifestFiles(raw, dirname(file), manifests, ctx),
    layoutSchema,
  );
  return { parsed: readYamlFile(file, schema), manifests };
}

/**
 * Replaces each `{ file }` entry of `services` with the raw manifest it names, keeping its parsed
 * form in `manifests` (by entry index) so later issues can be located in it.
 *
 * Ordering rule: references are checked before the layout. A malformed entry is a schema issue
 * of the layout (zod then skips the rest of the layout's schema); a manifest file with errors
 * throws its own ValidationError (every referenced file's issues, together) out of the schema
 * run, which zod does not catch. The layout's own fields are checked once its services can be.
 */
function inlineManifestFiles(
  raw: unknown,
  dir: string,
  manifests: Map<number, ParsedYaml<ServiceManifest>>,
  ctx: z.RefinementCtx,
): unknown {
  if (!isRecord(raw) || !Array.isArray(raw.services)) return raw;
  const fileIssues: ValidationIssue[] = [];
  const services = raw.services.map((entry: unknown, i) => {
    if (!isRecord(entry) || !("file" in entry)) return entry;
    const others = Object.keys(entry).filter((k) => k !== "file");
    if (typeof entry.file !== "string" || entry.file === "" || others.length > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["services", i, others.length > 0 ? (others[0] ?? "file") : "file"],
        input: others.length > 0 ? `file together with ${others.join(", ")}` : entry.file,
        message:
          "either { file: <manifest path, relative to the layout> } alone, or the manifest's fields inline",
      });
      return entry;
    }
    const path = isAbsolute(entry.file) ? entry.file : join(dir, entry.file);
    try {
      const manifest = readYamlFile(path, serviceManifestSchema);
      manifests.set(i, manifest);
      return manifest.raw;
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      fileIssues.push(...err.issues);
      return entry;
    }
  });
  if (fileIssues.length > 0) throw new ValidationError(fileIssues);
  return { ...raw, services };
}

/**
 * Gives a wiring issue its file and line: in the manifest file when its path is inside a service
 * that came from one (the path becomes relative to that file), otherwise in the layout.
 */
function locateIssue(
  issue: ValidationIssue,
  layout: ParsedYaml<Layout>,
  manifests: ReadonlyMap<number, ParsedYaml<ServiceManifest>>,
): ValidationIssue {
  const match = /^services\[(\d+)\](?:\.(.*))?$/.exec(issue.path);
  const manifest = match === null ? undefined : manifests.get(Number(match[1]));
  if (manifest !== undefined) return manifest.locate({ ...issue, path: match?.[2] ?? "" });
  return layout.locate(issue);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
