/**
 * A real gateway in a child process (gateway-child.ts), for tests that must see it as the
 * orchestrator does: started with the options given, ready once it printed its ready line
 * (bounded wait), and every child still running killed by `killAll` (the test file's `after`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { GatewayOptions } from "../gateway-options.ts";

const FIXTURE = join(import.meta.dirname, "gateway-child.ts");
const children = new Set<ChildProcess>();

/** The options of the child: startGateway's, and prices applied at start. */
export type GatewayChildArgs = Partial<GatewayOptions> & { prices?: Record<string, number> };

/** What the child's ready line says: where it listens. */
export interface GatewayReady {
  readonly orders: string;
  readonly control: string;
  readonly pid: number;
}

/** Starts the fixture and waits (at most 20 s) for its ready line. */
export async function startGatewayProcess(args: GatewayChildArgs): Promise<ChildProcess> {
  return (await startGatewayProcessReady(args)).child;
}

/** {@link startGatewayProcess}, with the addresses its ready line gave. */
export async function startGatewayProcessReady(
  args: GatewayChildArgs,
): Promise<{ child: ChildProcess; ready: GatewayReady }> {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, JSON.stringify(args)], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, HIVE_LOG_LEVEL: "silent" },
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise<GatewayReady>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("gateway child: no ready line within 20 s")), 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway child exited early (${String(code)})`));
    });
    lines.on("line", (line) => {
      if (line.includes('"ready"')) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as GatewayReady);
      }
    });
  });
  return { child, ready };
}

/** Stops a child with `signal` and waits for its exit. */
export async function stopGatewayProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  await exited;
}

/** Kills every child still running (for a test file's `after`). */
export function killAllGatewayProcesses(): void {
  for (const c of children) c.kill("SIGKILL");
}
