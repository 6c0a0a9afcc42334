import { z } from "zod";
import { byteSize } from "./schema-helpers.ts";

/** The schema of a dataset catalogue entry: what a runner loads into RAM, from where. */
export const datasetSpecSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/, "a dataset id of letters, digits, '_', '.', '-'"),
  // A runner keeps version V in `<id>@V` beside its manifest `<id>@V.json`: a version ending in
  // ".json" would be another version's manifest.
  version: z
    .string()
    .min(1)
    .refine((v) => !v.endsWith(".json"), "a version that does not end in .json")
    .default("1"),
  /** Where a runner reads it from (a path on the node, or a shared mount). */
  source: z.string().min(1, "the path the runner loads the dataset from"),
  /** Its size once loaded; the scheduler's data-locality cost uses it. */
  size: byteSize,
});

/** A dataset of the catalogue. `size` is in bytes. */
export type DatasetSpec = z.output<typeof datasetSpecSchema>;

/** A dataset held hot in a node's RAM, as its runner reports it. */
export interface HotDataset {
  readonly id: string;
  readonly version: string;
  readonly bytes: number;
}
