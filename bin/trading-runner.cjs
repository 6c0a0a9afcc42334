#!/usr/bin/env node
// `trading-runner`: the same as `hive runner` (the runner daemon of one node). CommonJS for the
// same reason as bin/hive.cjs: UV_THREADPOOL_SIZE must be set before libuv's pool starts.
"use strict";
process.env.UV_THREADPOOL_SIZE ??= "64";
require("./run.cjs").run((argv) => [argv[0] ?? "node", "hive", "runner", ...argv.slice(2)]);
