#!/usr/bin/env node
// `trading-runner`: the same as `hive runner` (the runner daemon of one node).
"use strict";
require("./run.cjs").run((argv) => [argv[0] ?? "node", "hive", "runner", ...argv.slice(2)]);
