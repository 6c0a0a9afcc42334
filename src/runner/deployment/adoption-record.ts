import { chmod, mkdir, readdir, readFile, rm, writeFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { SpawnRequestSchema, type SpawnRequest } from "../../protocol/index.ts";
import type { RunAs } from "../uids/index.ts";
import type { NodeDeployment } from "./node-deployment.ts";

/**
 * What the runner remembers of a deployment across its own restarts, beside the process layer's
 * record of the pid: the request it was spawned from and what it was given (ports, pinned cores,
 * addresses, order-path state). A restarted runner rebuilds its ports, pins and post office from
 * these, so a re-adopted process keeps its ports and its local sockets come back at the same paths.
 */
export interface AdoptionRecord {
  readonly request: SpawnRequest;
  readonly ports: readonly number[];
  readonly cpus: readonly number[];
  readonly addresses: readonly { socketName: string; address: string }[];
  readonly epoch: bigint;
  readonly ordersOpen: boolean;
  /**
   * The run directory its local sockets (HIVE_SOCKET_*) are under; absent in records written
   * before it was kept. A runner restarted with another one cannot give the process its sockets.
   */
  readonly runDir?: string;
  /**
   * The uid and gid its process runs under (absent: the runner's own), so that a restarted runner
   * takes that uid back and hands it to nobody else while the process lives.
   */
  readonly runAs?: RunAs;
}

/** The record of a deployment spawned (or re-adopted) by a runner whose run directory is `runDir`. */
export function adoptionRecordOf(d: NodeDeployment, runDir: string): AdoptionRecord {
  return {
    request: d.request,
    ports: d.ports,
    cpus: d.cpus,
    addresses: d.addresses,
    epoch: d.epoch,
    ordersOpen: d.ordersOpen,
    runDir,
    ...(d.runAs ? { runAs: { uid: d.runAs.uid, gid: d.runAs.gid } } : {}),
  };
}

function dir(stateDir: string): string {
  return join(stateDir, "deployments");
}

/**
 * A record holds what a deployment must not read of another (its environment, its epoch), so the
 * records and their directory are the runner's alone: 0600 files in a 0700 directory.
 */
const RECORD_MODE = 0o600;
const RECORDS_DIR_MODE = 0o700;

/**
 * Writes a record atomically (temp file, then rename), readable by the runner's user only. The
 * modes are set, not only asked at creation, so a directory or a temp file left by an older
 * runner with looser modes is tightened too.
 */
export async function saveAdoptionRecord(stateDir: string, record: AdoptionRecord): Promise<void> {
  await mkdir(dir(stateDir), { recursive: true, mode: RECORDS_DIR_MODE });
  await chmod(dir(stateDir), RECORDS_DIR_MODE);
  const file = join(dir(stateDir), `${record.request.deploymentId}.json`);
  const body = JSON.stringify({
    request: toJson(SpawnRequestSchema, record.request),
    ports: record.ports,
    cpus: record.cpus,
    addresses: record.addresses,
    epoch: record.epoch.toString(),
    ordersOpen: record.ordersOpen,
    runDir: record.runDir,
    runAs: record.runAs,
  });
  await writeFile(`${file}.tmp`, body, { mode: RECORD_MODE });
  await chmod(`${file}.tmp`, RECORD_MODE);
  await rename(`${file}.tmp`, file);
}

/** Removes a deployment's record. */
export async function removeAdoptionRecord(stateDir: string, deploymentId: string): Promise<void> {
  await rm(join(dir(stateDir), `${deploymentId}.json`), { force: true });
}

/**
 * Every record that can be read; unreadable ones are returned by name so the runner can log them.
 * A record an older runner wrote readable by others is made the runner's alone as it is read; one
 * whose mode cannot be changed (a read-only state directory) is still read, and named in `loose`.
 */
export async function loadAdoptionRecords(
  stateDir: string,
): Promise<{ records: AdoptionRecord[]; unreadable: string[]; loose: string[] }> {
  const records: AdoptionRecord[] = [];
  const unreadable: string[] = [];
  const loose: string[] = [];
  let names: string[] = [];
  try {
    names = (await readdir(dir(stateDir))).filter((n) => n.endsWith(".json"));
  } catch {
    return { records, unreadable, loose }; // no records directory: nothing recorded yet
  }
  for (const name of names) {
    const path = join(dir(stateDir), name);
    // A process is not abandoned for its record's mode: that is said, and the record read.
    await chmod(path, RECORD_MODE).catch(() => loose.push(name));
    try {
      const raw = JSON.parse(await readFile(path, "utf8")) as {
        request: JsonValue;
        ports: number[];
        cpus: number[];
        addresses: { socketName: string; address: string }[];
        epoch: string;
        ordersOpen: boolean;
        runDir?: string;
        runAs?: { uid?: unknown; gid?: unknown };
      };
      const runAs = raw.runAs;
      records.push({
        request: fromJson(SpawnRequestSchema, raw.request),
        ports: raw.ports,
        cpus: raw.cpus,
        addresses: raw.addresses,
        epoch: BigInt(raw.epoch),
        ordersOpen: raw.ordersOpen,
        ...(typeof raw.runDir === "string" ? { runDir: raw.runDir } : {}),
        ...(runAs !== undefined
          ? { runAs: { uid: wholeNumber(runAs.uid, name), gid: wholeNumber(runAs.gid, name) } }
          : {}),
      });
    } catch {
      unreadable.push(name);
    }
  }
  return { records, unreadable, loose };
}

/** A uid or gid read from a record; a record holding anything else is unreadable. */
function wholeNumber(value: unknown, file: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1)
    throw new Error(`${file}: runAs holds ${JSON.stringify(value)}, expected a uid or gid above 0`);
  return value;
}
