/**
 * How datasets are laid out in the cache directory. The rename of a finished copy and the
 * manifest written after it are what make a dataset "complete", so a runner that restarts can
 * tell complete from half-loaded without trusting anything else:
 *
 *   <dir>/<id>@<version>/          the copy (the source file inside it, or the source tree)
 *   <dir>/<id>@<version>.json      its manifest, written (atomically) only after the rename
 *   <dir>/.tmp-...                 a copy or manifest in progress: never hot, removed at start
 *
 * A dataset directory without its manifest is incomplete (the runner stopped between the rename
 * and the manifest, or during an eviction, which removes the manifest first).
 */
import { join } from "node:path";
import { z } from "zod";
import { datasetSpecSchema } from "../../domain/dataset.ts";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";

/** Prefix of everything in progress in the cache directory. */
export const TEMP_PREFIX = ".tmp-";

/** Suffix of a manifest file. */
export const MANIFEST_SUFFIX = ".json";

/** Why `<id>@<version>` cannot name a dataset, or undefined if it can. */
export function datasetNameProblem(id: string, version: string): string | undefined {
  if (!datasetSpecSchema.shape.id.safeParse(id).success) {
    return `dataset id ${JSON.stringify(id)} is invalid: expected letters, digits, '_', '.', '-' (starting with a letter or digit)`;
  }
  if (version === "" || encodeName(id, version).length > 200) {
    return (
      `dataset ${id} has an invalid version ${JSON.stringify(version)}: expected a non-empty version ` +
      `that keeps "<id>@<version>" (URI-escaped) within 200 characters`
    );
  }
  if (encodeName(id, version).endsWith(MANIFEST_SUFFIX)) {
    // "<id>@1.json" is the manifest of version 1: the two would overwrite each other.
    return `dataset ${id} has an invalid version ${JSON.stringify(version)}: expected one that does not end in ${MANIFEST_SUFFIX}`;
  }
  return undefined;
}

/** The key of a dataset in the cache's tables and its directory name: `<id>@<version>`. */
export function datasetName(id: string, version: string): string {
  const problem = datasetNameProblem(id, version);
  if (problem !== undefined) throw new HiveError(ErrorCode.InvalidArgument, problem);
  return encodeName(id, version);
}

/** The id and version a name of {@link datasetName} stands for, or undefined if it is not one. */
export function parseDatasetName(name: string): { id: string; version: string } | undefined {
  const at = name.indexOf("@");
  if (at <= 0) return undefined;
  let version: string;
  try {
    version = decodeURIComponent(name.slice(at + 1));
  } catch {
    return undefined; // a malformed escape: not a name we wrote
  }
  const id = name.slice(0, at);
  return datasetNameProblem(id, version) === undefined && encodeName(id, version) === name
    ? { id, version }
    : undefined;
}

// The version is free text (it may hold '/' or '@'): escape it into one path segment.
function encodeName(id: string, version: string): string {
  return `${id}@${encodeURIComponent(version)}`;
}

/** The manifest of a complete dataset. */
export const datasetManifestSchema = z.strictObject({
  id: z.string(),
  version: z.string(),
  /** Where it was loaded from. */
  source: z.string(),
  /** Bytes copied. */
  bytes: z.number().int().nonnegative(),
  /** The path handed to processes, relative to the dataset directory ("" for a directory source). */
  entry: z.string(),
  /** When the load finished (ISO 8601): the LRU order of datasets adopted after a restart. */
  loadedAt: z.string(),
});

/** The manifest of a complete dataset. */
export type DatasetManifest = z.output<typeof datasetManifestSchema>;

/** Parses a manifest's text; undefined if it is not one (a torn or foreign file). */
export function parseManifest(text: string): DatasetManifest | undefined {
  try {
    const parsed = datasetManifestSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // not JSON: a torn or foreign file
  }
}

/** The paths of one dataset in the cache directory. */
export interface DatasetPaths {
  /** The dataset directory. */
  readonly dir: string;
  /** The manifest file beside it. */
  readonly manifest: string;
}

/** The paths of dataset `name` in cache directory `root`. */
export function datasetPaths(root: string, name: string): DatasetPaths {
  return { dir: join(root, name), manifest: join(root, `${name}${MANIFEST_SUFFIX}`) };
}

/** A fresh temporary name in the cache directory for work on dataset `name`. */
export function tempPath(root: string, name: string, suffix = ""): string {
  const nonce = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return join(root, `${TEMP_PREFIX}${name}-${nonce}${suffix}`);
}

/** The path handed to processes for a dataset: its file, or its directory. */
export function entryPath(dir: string, entry: string): string {
  return entry === "" ? dir : join(dir, entry);
}
