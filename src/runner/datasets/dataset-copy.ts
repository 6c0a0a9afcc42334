/**
 * Copying a measured source into the cache directory and committing it: into a temporary
 * directory first, then renamed into place, then its manifest written (atomically, by rename).
 * Until the manifest exists the dataset is not complete; on any failure what was written is
 * removed before the error is passed on.
 */
import { join } from "node:path";
import { ErrorCode, HiveError } from "../../core/hive-error.ts";
import type { DatasetFs, SourceTree } from "./dataset-fs.ts";
import {
  datasetPaths,
  entryPath,
  MANIFEST_SUFFIX,
  tempPath,
  type DatasetManifest,
} from "./dataset-layout.ts";
import type { LoadedDataset } from "./dataset-store.ts";

/** What to copy and where. */
export interface CopyRequest {
  readonly fs: DatasetFs;
  /** The cache directory. */
  readonly dir: string;
  /** The dataset's name there (`<id>@<version>`). */
  readonly name: string;
  readonly id: string;
  readonly version: string;
  readonly source: string;
  /** The source, measured. */
  readonly tree: SourceTree;
  /** Called after each chunk copied. */
  readonly onBytes: (bytes: number) => void;
  /** Stops the copy; once the copy is renamed into place it is no longer looked at. */
  readonly signal: AbortSignal;
}

/** Copies and commits a dataset; returns its path and the bytes copied. */
export async function copyDataset(request: CopyRequest): Promise<LoadedDataset> {
  const { fs, dir, name, tree } = request;
  // The room reserved is the size scanned: a source that grows while it is copied (a file still
  // being written) is refused rather than stored over the memory budget.
  const scanned = tree.files.reduce((sum, f) => sum + f.bytes, 0);
  const grew = new AbortController();
  const signal = AbortSignal.any([request.signal, grew.signal]);
  let partial: string | undefined = tempPath(dir, name);
  let bytes = 0;
  try {
    await fs.mkdir(partial);
    for (const sub of tree.directories) await fs.mkdir(join(partial, sub));
    for (const file of tree.files) {
      const from = tree.kind === "file" ? request.source : join(request.source, file.relativePath);
      const onBytes = (n: number): void => {
        bytes += n;
        request.onBytes(n);
        if (bytes > scanned && !grew.signal.aborted) {
          grew.abort(
            new HiveError(
              ErrorCode.FailedPrecondition,
              `cannot load dataset ${name}: its source ${request.source} grew while it was copied ` +
                `(more than the ${scanned} bytes measured and reserved); load it once it is complete`,
            ),
          );
        }
      };
      await fs.copyFile(from, join(partial, file.relativePath), onBytes, signal, file.identity);
      signal.throwIfAborted();
    }
    signal.throwIfAborted();

    // Commit. Leftovers under the final names (from a run that was not adopted) go first.
    const paths = datasetPaths(dir, name);
    await fs.remove(paths.manifest);
    await fs.remove(paths.dir);
    await fs.rename(partial, paths.dir);
    partial = paths.dir;
    const manifest: DatasetManifest = {
      id: request.id,
      version: request.version,
      source: request.source,
      bytes,
      entry: tree.kind === "file" ? (tree.files[0]?.relativePath ?? "") : "",
      loadedAt: new Date().toISOString(),
    };
    const manifestTemp = tempPath(dir, name, MANIFEST_SUFFIX);
    await fs.writeText(manifestTemp, `${JSON.stringify(manifest, null, 2)}\n`);
    await fs.rename(manifestTemp, paths.manifest);
    partial = undefined;
    return { path: entryPath(paths.dir, manifest.entry), bytes };
  } catch (err) {
    const error: unknown = signal.aborted ? signal.reason : err;
    if (partial !== undefined) await removePartial(fs, name, partial, error);
    throw error;
  }
}

// Removes what a failed load left; if even that fails, says so instead of hiding it.
async function removePartial(fs: DatasetFs, name: string, partial: string, error: unknown): Promise<void> {
  try {
    await fs.remove(partial);
  } catch (cleanup) {
    throw new HiveError(
      ErrorCode.Internal,
      `loading dataset ${name} failed (${HiveError.from(error).message}) and its partial copy ${partial} ` +
        `could not be removed (${HiveError.from(cleanup).message}); it is removed at the next start`,
      { cause: error },
    );
  }
}
