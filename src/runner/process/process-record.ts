/**
 * The record a runner keeps on disk for each process it runs, so that a restarted runner can
 * find its processes again (see README.md): one small JSON file per deployment in the state
 * directory, written at spawn and removed once the exit has been observed. Writes go through a
 * temporary file and a rename, so a crash never leaves half a record.
 */
import { chmod, mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { assertCgroupName } from "../cgroups/limit-checks.ts";

const recordSchema = z.strictObject({
  version: z.literal(1),
  deploymentId: z.string().min(1),
  pid: z.number().int().positive(),
  /** /proc/<pid>/stat field 22: with bootId, it tells the process from a later one with its pid. */
  startTime: z.string().regex(/^\d+$/),
  bootId: z.string().min(1),
  startedAt: z.iso.datetime(),
  command: z.string(),
  args: z.array(z.string()),
  /** The process's group under the driver's parent, if it had one. */
  cgroup: z.strictObject({ kind: z.enum(["v1", "v2", "none"]), name: z.string() }).optional(),
  logDir: z.string(),
  logCapBytes: z.number().positive(),
  graceMs: z.number().nonnegative(),
});

/** What a runner remembers about one running process. */
export type ProcessRecord = z.output<typeof recordSchema>;

/** A file in the state directory that is not a valid record, and why. */
export interface InvalidRecord {
  readonly file: string;
  readonly error: string;
}

/** The record file of a deployment. */
export function recordPath(stateDir: string, deploymentId: string): string {
  assertCgroupName(deploymentId, "deployment id");
  return join(stateDir, `${deploymentId}.json`);
}

/** A record names a deployment's command line: the runner's alone (0600), like the deployment records. */
const RECORD_MODE = 0o600;

/** Writes (or replaces) a deployment's record atomically, readable by the runner's user only. */
export async function saveRecord(stateDir: string, record: ProcessRecord): Promise<void> {
  const path = recordPath(stateDir, record.deploymentId);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFile(`${path}.tmp`, `${JSON.stringify(recordSchema.parse(record), null, 2)}\n`, {
    mode: RECORD_MODE,
  });
  await chmod(`${path}.tmp`, RECORD_MODE); // whatever the umask, or a temp file left looser
  await rename(`${path}.tmp`, path);
  await rename(`${path}.tmp`, path);
}

/** Removes a deployment's record; a missing one is fine. */
export async function removeRecord(stateDir: string, deploymentId: string): Promise<void> {
  await rm(recordPath(stateDir, deploymentId), { force: true });
}

/** Every record in the state directory (none if it does not exist), and the files that are not records. */
export async function loadRecords(
  stateDir: string,
): Promise<{ records: ProcessRecord[]; invalid: InvalidRecord[] }> {
  let names: string[];
  try {
    names = (await readdir(stateDir)).filter((n) => n.endsWith(".json")).sort();
  } catch {
    return { records: [], invalid: [] }; // no state directory yet: nothing was recorded
  }
  const records: ProcessRecord[] = [];
  const invalid: InvalidRecord[] = [];
  for (const name of names) {
    const file = join(stateDir, name);
    try {
      const parsed = recordSchema.safeParse(JSON.parse(await readFile(file, "utf8")));
      if (parsed.success && `${parsed.data.deploymentId}.json` === name) records.push(parsed.data);
      else
        invalid.push({
          file,
          error: parsed.success
            ? "the file name does not match its deploymentId"
            : z.prettifyError(parsed.error),
        });
    } catch (error) {
      invalid.push({ file, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return { records, invalid };
}
