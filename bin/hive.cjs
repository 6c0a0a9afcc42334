#!/usr/bin/env node
// The `hive` command. A CommonJS entry so that UV_THREADPOOL_SIZE is set before anything starts
// libuv's thread pool (an ES module entry is too late: the ESM loader has already started it).
// The runner's post office runs each native ZeroMQ proxy on a pool thread, so the default pool
// of 4 would starve it and every asynchronous file operation with it.
"use strict";
process.env.UV_THREADPOOL_SIZE ??= "64";
require("./run.cjs").run((argv) => argv);
