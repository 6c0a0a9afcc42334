#!/usr/bin/env node
// Regenerates the TypeScript for every .proto under proto/ (the source of truth) into
// src/protocol/gen/. It lints first, so a proto that breaks the buf rules never produces code.
//
//   node scripts/gen-proto.mjs              lint, then regenerate src/protocol/gen/
//   node scripts/gen-proto.mjs --out <dir>  lint, then generate into <dir> (empty or missing);
//                                           the drift test compares that with src/protocol/gen/
//   node scripts/gen-proto.mjs --lint       lint only
//
// Everything runs offline: the buf binary and the protoc-gen-es plugin both come from
// node_modules/.bin (buf.gen.yaml names the plugin as a local one, found on PATH).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const binDir = join(root, "node_modules", ".bin");
const defaultOut = join(root, "src", "protocol", "gen");

function fail(message) {
  console.error(`gen-proto: ${message}`);
  process.exit(1);
}

function buf(args) {
  const bufBin = join(binDir, "buf");
  if (!existsSync(bufBin)) fail(`${bufBin} not found; run npm install`);
  const result = spawnSync(bufBin, args, {
    cwd: root,
    stdio: "inherit",
    // The local plugin must win over anything else called protoc-gen-es on PATH.
    env: { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ""}` },
  });
  if (result.error) fail(`could not run buf: ${result.error.message}`);
  if (result.status !== 0) fail(`buf ${args[0]} failed (exit ${result.status ?? result.signal})`);
}

function listFiles(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) listFiles(path, out);
    else out.push(path);
  }
  return out;
}

let options;
try {
  ({ values: options } = parseArgs({
    options: { out: { type: "string" }, lint: { type: "boolean", default: false } },
    strict: true,
  }));
} catch (error) {
  fail(`${error.message}\nusage: node scripts/gen-proto.mjs [--lint | --out <dir>]`);
}

buf(["lint", "proto"]);
console.log("gen-proto: buf lint passed");
if (options.lint) process.exit(0);

const outDir = options.out === undefined ? defaultOut : resolve(options.out);
if (outDir === defaultOut) {
  // The default directory holds nothing but generated code: wipe it so files of deleted protos
  // do not linger.
  rmSync(outDir, { recursive: true, force: true });
} else if (existsSync(outDir) && readdirSync(outDir).length > 0) {
  // Never delete a directory the caller named; ask for an empty one instead.
  fail(`--out ${outDir} is not empty`);
}
mkdirSync(outDir, { recursive: true });

buf(["generate", "proto", "--template", "proto/buf.gen.yaml", "--output", outDir]);
const written = listFiles(outDir).sort();
if (written.length === 0) fail(`buf generate wrote nothing into ${outDir}`);
for (const file of written) console.log(`gen-proto: wrote ${relative(process.cwd(), file) || file}`);
