/**
 * What a previous runner left in the cache directory: its complete datasets (a directory and a
 * valid manifest naming it) are returned, oldest loaded first; what it left unfinished is removed.
 * Only names this cache could have written are removed, in case the directory is shared.
 */
import { join } from "node:path";
import type { DatasetFs } from "./dataset-fs.ts";
import {
  datasetNameProblem,
  datasetName,
  MANIFEST_SUFFIX,
  parseDatasetName,
  parseManifest,
  TEMP_PREFIX,
  type DatasetManifest,
} from "./dataset-layout.ts";

/** A complete dataset found in the cache directory. */
export interface FoundDataset {
  /** Its name there (`<id>@<version>`). */
  readonly name: string;
  readonly manifest: DatasetManifest;
}

/** Lists the complete datasets of `dir`, oldest loaded first, and removes incomplete ones. */
export async function adoptDatasets(fs: DatasetFs, dir: string): Promise<FoundDataset[]> {
  await fs.mkdir(dir);
  const listing = await fs.list(dir);
  const directories = new Set(listing.filter((e) => e.directory).map((e) => e.name));
  const found: FoundDataset[] = [];
  for (const item of listing) {
    if (item.directory || !item.name.endsWith(MANIFEST_SUFFIX) || item.name.startsWith(TEMP_PREFIX)) continue;
    const name = item.name.slice(0, -MANIFEST_SUFFIX.length);
    const manifest = parseManifest((await fs.readText(join(dir, item.name))) ?? "");
    if (manifest === undefined || !directories.has(name)) continue;
    // The manifest must name its own directory (a copied or hand-edited one does not).
    if (datasetNameProblem(manifest.id, manifest.version) !== undefined) continue;
    if (datasetName(manifest.id, manifest.version) !== name) continue;
    found.push({ name, manifest });
  }
  const kept = new Set(found.flatMap((f) => [f.name, `${f.name}${MANIFEST_SUFFIX}`]));
  for (const item of listing) {
    if (kept.has(item.name)) continue;
    const base = item.name.endsWith(MANIFEST_SUFFIX)
      ? item.name.slice(0, -MANIFEST_SUFFIX.length)
      : item.name;
    if (item.name.startsWith(TEMP_PREFIX) || parseDatasetName(base) !== undefined)
      await fs.remove(join(dir, item.name));
  }
  return found.sort((a, b) => (a.manifest.loadedAt < b.manifest.loadedAt ? -1 : 1));
}
