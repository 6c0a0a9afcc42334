import { Command, CommanderError } from "commander";
import { HiveError, ErrorCode } from "../core/hive-error.ts";
import { ValidationError } from "../domain/index.ts";
import { registerApply } from "./commands/apply.ts";
import { registerAudit } from "./commands/audit.ts";
import { registerCa } from "./commands/ca.ts";
import { registerDatasets } from "./commands/datasets.ts";
import { registerDeployments } from "./commands/deployments.ts";
import { registerDev } from "./commands/dev.ts";
import { registerDevPreview } from "./commands/dev-preview.ts";
import { registerDrain } from "./commands/drain.ts";
import { registerExplain } from "./commands/explain.ts";
import { registerGateway } from "./commands/gateway.ts";
import { registerLogs } from "./commands/logs.ts";
import { registerNodes } from "./commands/nodes.ts";
import { registerPlan, UsageError } from "./commands/plan.ts";
import { registerOrchestrator } from "./commands/orchestrator.ts";
import { registerRunner } from "./commands/runner.ts";
import { registerStatus } from "./commands/status.ts";
import { registerStop } from "./commands/stop.ts";
import { registerToken } from "./commands/token.ts";
import { registerTrading } from "./commands/trading.ts";
import { registerValidate } from "./commands/validate.ts";
import { ExitCode } from "./exit-codes.ts";
import { processIo, type CliIo } from "./io.ts";

/** Builds the `hive` program with every subcommand, writing to `io`. */
export function buildProgram(io: CliIo): Command {
  const program = new Command("hive")
    .description("The Hive: a scheduler and runtime for backtests and live strategies")
    .version("0.1.0")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  registerDev(program, io);
  registerDevPreview(program, io);
  registerValidate(program, io);
  registerPlan(program, io);
  registerExplain(program, io);
  // The commands that talk to the orchestrator, through its HTTP API only.
  registerApply(program, io);
  registerStatus(program, io);
  registerNodes(program, io);
  registerDeployments(program, io);
  registerLogs(program, io);
  registerStop(program, io);
  registerDrain(program, io);
  registerDatasets(program, io);
  registerTrading(program, io);
  registerToken(program, io);
  registerAudit(program, io);
  registerRunner(program, io);
  registerOrchestrator(program, io);
  registerGateway(program, io);
  registerCa(program, io);
  return program;
}

/** Runs the CLI on `argv` and returns the exit status; errors become one clear line, never a stack. */
export async function main(
  argv: readonly string[],
  io: CliIo & { code: number } = processIo(),
): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return io.code;
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) {
    // Commander has already printed the message (and help for usage errors).
    return err.exitCode === 0 ? ExitCode.Ok : ExitCode.BadInput;
  }
  if (err instanceof ValidationError) {
    for (const line of err.message.split("\n")) io.err(`error: ${line}`);
    return ExitCode.BadInput;
  }
  if (err instanceof UsageError) {
    io.err(`error: ${err.message}`);
    return ExitCode.BadInput;
  }
  const e = HiveError.from(err);
  io.err(`error: ${e.message}`);
  if (process.env.HIVE_DEBUG) io.err(String((e.cause instanceof Error ? e.cause : e).stack));
  switch (e.code) {
    case ErrorCode.InvalidArgument:
    case ErrorCode.NotFound:
    case ErrorCode.AlreadyExists:
      return ExitCode.BadInput;
    case ErrorCode.Unavailable:
      return ExitCode.Unavailable;
    case ErrorCode.FailedPrecondition:
    case ErrorCode.PermissionDenied:
    case ErrorCode.Unauthenticated:
      return ExitCode.Failed;
    case ErrorCode.Internal:
      return ExitCode.Internal;
  }
}
