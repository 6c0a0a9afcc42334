import type { Command } from "commander";
import { readLayoutFile } from "../../layout/index.ts";
import { ValidationError } from "../../domain/index.ts";
import { ExitCode } from "../exit-codes.ts";
import type { CliIo } from "../io.ts";

/** `hive validate <layout.yaml...>`: checks layout files without contacting anything. */
export function registerValidate(program: Command, io: CliIo): void {
  program
    .command("validate")
    .description("check layout files: schema, wiring, socket patterns (no cluster needed)")
    .argument("<files...>", "layout YAML files")
    .option("--json", "print the result as JSON")
    .action((files: string[], opts: { json?: boolean }) => {
      const results = files.map((file) => {
        try {
          const layout = readLayoutFile(file);
          return {
            file,
            ok: true as const,
            services: layout.services.length,
            wires: layout.wires.length,
            gateways: layout.gateways.map((g) => g.name),
          };
        } catch (err) {
          if (!(err instanceof ValidationError)) throw err;
          return { file, ok: false as const, issues: err.message.split("\n") };
        }
      });
      if (opts.json) io.out(JSON.stringify(results));
      else {
        for (const r of results) {
          if (r.ok) {
            const through = r.gateways.length > 0 ? `, trades through ${r.gateways.join(", ")}` : "";
            io.out(
              `ok       ${r.file} (${plural(r.services, "service")}, ${plural(r.wires, "wire")}${through})`,
            );
          } else {
            io.out(`invalid  ${r.file}`);
            for (const issue of r.issues) io.err(`  ${issue}`);
          }
        }
      }
      io.exit(results.every((r) => r.ok) ? ExitCode.Ok : ExitCode.BadInput);
    });
}

/** "1 wire", "2 wires". */
function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
