"use strict";
// Loads the TypeScript sources through tsx (no build step between a checkout and a working
// command) and runs the CLI with the arguments `mapArgv` makes of process.argv.
exports.run = function run(mapArgv) {
  import("tsx/esm/api")
    .then(({ register }) => {
      register();
      return import("../src/cli/main.ts");
    })
    .then(({ main }) => main(mapArgv(process.argv)))
    .then((code) => {
      process.exitCode = code;
    })
    .catch((err) => {
      process.stderr.write(`hive: could not start: ${err && err.stack ? err.stack : err}\n`);
      process.exitCode = 70;
    });
};
