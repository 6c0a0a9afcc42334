#!/usr/bin/env node
// The `hive` command: loads the TypeScript sources through tsx (bin/run.cjs) and runs the CLI.
"use strict";
require("./run.cjs").run((argv) => argv);
