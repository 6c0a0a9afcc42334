import { z } from "zod";
import { nodeSpecSchema, readYamlFile, type NodeSpec } from "../domain/index.ts";

const clusterFileSchema = z.strictObject({ nodes: z.array(nodeSpecSchema) });

/** The simulated cluster used by `hive plan`, `hive explain` and the `hive dev` preview. */
export const DEFAULT_CLUSTER_FILE = "examples/clusters/dev.yaml";

/** Reads a cluster file: `nodes:` followed by node specs (see examples/clusters/dev.yaml). */
export function readClusterFile(file: string): NodeSpec[] {
  return readYamlFile(file, clusterFileSchema).value.nodes;
}
