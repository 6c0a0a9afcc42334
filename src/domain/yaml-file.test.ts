import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { layoutSchema } from "./layout.ts";
import { parseYaml, readYamlFile } from "./yaml-file.ts";
import { describeValue, formatIssue, formatPath, ValidationError } from "./validation-error.ts";

const examples = fileURLToPath(new URL("../../examples/layouts/", import.meta.url));

/** Runs `fn`, which must throw a ValidationError, and returns it. */
function validationErrorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    assert.equal(err.code, "invalid_argument");
    assert.equal(err.name, "ValidationError");
    return err;
  }
  assert.fail("expected a ValidationError, nothing was thrown");
}

/** A one-service layout; `service` is the YAML of the service's fields, indented by four spaces. */
function layoutText(service: string): string {
  return [
    "name: test-layout", // line 1
    "services:", // line 2
    "  - name: feeder", // line 3
    "    kind: feeder", // line 4
    service, // from line 5
  ].join("\n");
}

describe("parseYaml: the example layouts", () => {
  test("live-trading.yaml parses, with defaults and parsed wires", () => {
    const file = `${examples}live-trading.yaml`;
    const { value, raw } = parseYaml(readFileSync(file, "utf8"), file, layoutSchema);
    assert.equal(value.name, "live-momentum");
    assert.deepEqual(
      value.services.map((s) => [s.name, s.kind, s.pool]),
      [
        ["feeder", "feeder", "live"],
        ["momentum", "strategy", "live"],
      ],
    );
    const momentum = value.services[1];
    assert.equal(momentum?.standby, 1);
    assert.equal(momentum?.resources.memoryBytes, 512 * 2 ** 20);
    assert.equal(momentum?.resources.exclusiveCores, 1);
    assert.deepEqual(momentum?.env, { ACCOUNT: "paper-001", LOOKBACK: "20" });
    assert.deepEqual(momentum?.accounts, ["paper-001"]);
    assert.equal(momentum?.restart.maxRestarts, 20);
    assert.equal(value.services[0]?.restart.policy, "always");
    assert.deepEqual(value.datasets, []);
    assert.deepEqual(value.wires, [
      {
        from: { service: "feeder", socket: "market_data" },
        to: { service: "momentum", socket: "market_data" },
      },
    ]);
    assert.deepEqual(value.gateways, [
      {
        name: "paper",
        orders: [{ service: "momentum", socket: "orders" }],
        marketData: [{ service: "feeder", socket: "market_data" }],
      },
    ]);
    // `raw` is the document before defaults and transforms.
    assert.equal(
      (raw as { services: { resources: { memory: string } }[] }).services[0]?.resources.memory,
      "256MiB",
    );
  });

  test("backtest-simulation.yaml parses, with its dataset sizes in bytes", () => {
    const file = `${examples}backtest-simulation.yaml`;
    const { value } = parseYaml(readFileSync(file, "utf8"), file, layoutSchema);
    assert.equal(value.name, "backtest-momentum");
    assert.deepEqual(value.datasets, [
      { id: "es-sample", version: "1", source: "examples/data/es-sample.csv", size: 841_894 },
    ]);
    assert.equal(value.services.length, 3);
    for (const s of value.services) {
      assert.equal(s.pool, "backtest");
      assert.equal(s.restart.policy, "on-failure");
      assert.deepEqual(s.datasets, [{ name: "ticks", id: "es-sample", version: "1" }]);
    }
    assert.deepEqual(value.wires, []);
  });

  test("readYamlFile reads the examples from disk", () => {
    const { value } = readYamlFile(`${examples}live-trading.yaml`, layoutSchema);
    assert.equal(value.services.length, 2);
  });
});

describe("parseYaml: schema errors name the file, line and field", () => {
  test("a memory that is not a size", () => {
    const text = layoutText(
      ["    pool: live", "    command: node", "    resources: { cores: 1, memory: lots }"].join("\n"),
    );
    const err = validationErrorOf(() => parseYaml(text, "layouts/bad.yaml", layoutSchema));
    assert.equal(err.issues.length, 1);
    const issue = err.issues[0];
    assert.equal(issue?.file, "layouts/bad.yaml");
    assert.equal(issue?.line, 7);
    assert.equal(issue?.column, "    resources: { cores: 1, memory: ".length + 1);
    assert.equal(issue?.path, "services[0].resources.memory");
    assert.equal(err.message, formatIssue(issue));
    assert.match(err.message, /^layouts\/bad\.yaml:7:\d+: services\[0\]\.resources\.memory: /);
    assert.ok(err.message.includes('found "lots"'), err.message);
    assert.ok(err.message.includes("expected a size"), err.message);
  });

  test("a dataset version ending in .json is refused (it would be another version's manifest)", () => {
    const text = [
      "name: l",
      "datasets:",
      '  - { id: ticks, version: "1.json", source: /data/ticks, size: 1MiB }',
      "services:",
      "  - name: s",
      "    kind: backtest",
      "    pool: backtest",
      "    command: node",
      "    resources: { cores: 1, memory: 1GiB }",
    ].join("\n");
    const err = validationErrorOf(() => parseYaml(text, "v.yaml", layoutSchema));
    assert.match(
      err.message,
      /datasets\[0\]\.version: found "1\.json", expected a version that does not end in \.json/,
    );
  });

  test("the line is that of the bad field in a block mapping", () => {
    const text = layoutText(
      ["    pool: live", "    command: node", "    resources:", "      cores: 1", "      memory: lots"].join(
        "\n",
      ),
    );
    const err = validationErrorOf(() => parseYaml(text, "bad.yaml", layoutSchema));
    assert.equal(err.issues[0]?.line, 9);
    assert.match(err.message, /^bad\.yaml:9:15: services\[0\]\.resources\.memory: found "lots"/);
  });

  test("a missing pool says missing and lists the pools", () => {
    const text = layoutText(["    command: node", "    resources: { cores: 1, memory: 1GiB }"].join("\n"));
    const err = validationErrorOf(() => parseYaml(text, "no-pool.yaml", layoutSchema));
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0]?.path, "services[0].pool");
    assert.equal(err.issues[0]?.found, undefined);
    // The field is not there, so the issue points at the service that lacks it.
    assert.equal(err.issues[0]?.line, 3);
    assert.ok(err.message.includes("services[0].pool: missing"), err.message);
    assert.ok(err.message.includes("live, backtest"), err.message);
  });

  test("an unknown pool says what was found", () => {
    const text = layoutText(
      ["    pool: gpu", "    command: node", "    resources: { cores: 1, memory: 1GiB }"].join("\n"),
    );
    const err = validationErrorOf(() => parseYaml(text, "gpu.yaml", layoutSchema));
    assert.match(
      err.message,
      /^gpu\.yaml:5:11: services\[0\]\.pool: found "gpu", expected one of live, backtest$/,
    );
  });

  test("an unknown field says which, at its own line", () => {
    const text = layoutText(
      [
        "    pool: live",
        "    command: node",
        "    resources: { cores: 1, memory: 1GiB }",
        "    resorces:",
        "      cores: 2",
      ].join("\n"),
    );
    const err = validationErrorOf(() => parseYaml(text, "typo.yaml", layoutSchema));
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0]?.path, "services[0].resorces");
    assert.equal(err.issues[0]?.line, 8);
    assert.equal(err.issues[0]?.column, 5);
    assert.ok(err.message.includes("unknown field resorces"), err.message);
  });

  test("a misspelt required field gives both the unknown and the missing field", () => {
    const text = layoutText(
      ["    pool: live", "    comand: node", "    resources: { cores: 1, memory: 1GiB }"].join("\n"),
    );
    const err = validationErrorOf(() => parseYaml(text, "misspelt.yaml", layoutSchema));
    assert.deepEqual(err.issues.map((i) => i.path).sort(), ["services[0].comand", "services[0].command"]);
    const unknown = err.issues.find((i) => i.path === "services[0].comand");
    assert.equal(unknown?.line, 6);
  });

  test("every issue is reported, each with its own line, one per message line", () => {
    const text = [
      "name: several", // 1
      "services:", // 2
      "  - name: feeder", // 3
      "    kind: feeder", // 4
      "    pool: live", // 5
      "    command: node", // 6
      "    resources: { cores: 1, memory: lots }", // 7
      "  - name: Sweep", // 8
      "    kind: backtest", // 9
      "    pool: backtest", // 10
      "    command: node", // 11
      "    resources: { cores: 2, memory: 8GiB }", // 12
      "    standby: 1", // 13
    ].join("\n");
    const err = validationErrorOf(() => parseYaml(text, "several.yaml", layoutSchema));
    const byPath = new Map(err.issues.map((i) => [i.path, i.line]));
    assert.deepEqual(
      [...byPath.keys()].sort(),
      ["services[0].resources.memory", "services[1].name", "services[1].standby"].sort(),
    );
    assert.equal(byPath.get("services[0].resources.memory"), 7);
    assert.equal(byPath.get("services[1].name"), 8);
    assert.equal(byPath.get("services[1].standby"), 13);
    assert.deepEqual(err.message.split("\n"), err.issues.map(formatIssue));
  });

  test("a bad wire end names the wire", () => {
    const text = [
      layoutText(
        ["    pool: live", "    command: node", "    resources: { cores: 1, memory: 1GiB }"].join("\n"),
      ),
      "wires:", // 8
      "  - { from: feeder, to: momentum.market_data }", // 9
    ].join("\n");
    const err = validationErrorOf(() => parseYaml(text, "wire.yaml", layoutSchema));
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0]?.path, "wires[0].from");
    assert.equal(err.issues[0]?.line, 9);
    assert.ok(err.message.includes("<service>.<socket>"), err.message);
  });

  test("a layout with no services says at least one", () => {
    const err = validationErrorOf(() => parseYaml("name: empty\nservices: []\n", "empty.yaml", layoutSchema));
    assert.equal(err.issues[0]?.path, "services");
    assert.equal(err.issues[0]?.line, 2);
    assert.ok(err.message.includes("at least 1 item"), err.message);
  });

  test("an empty document is a whole-document error", () => {
    const err = validationErrorOf(() => parseYaml("", "blank.yaml", layoutSchema));
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0]?.path, "");
    assert.ok(err.message.includes("(document)"), err.message);
    assert.ok(err.message.includes("expected a mapping"), err.message);
  });
});

describe("parseYaml: YAML errors", () => {
  test("a syntax error names a line", () => {
    const text = [
      "name: broken",
      "services:",
      "  - name: feeder",
      "    kind: feeder",
      "    command: node",
      "    resources: { cores: 1, memory: 256MiB", // 6: the flow mapping is never closed
      "    pool: live",
    ].join("\n");
    const err = validationErrorOf(() => parseYaml(text, "syntax.yaml", layoutSchema));
    assert.ok(err.issues.length >= 1);
    const line = err.issues[0]?.line;
    assert.ok(line === 6 || line === 7, `line ${line}`);
    assert.match(err.message, new RegExp(`^syntax\\.yaml:${line}:\\d+: \\(document\\): found invalid YAML`));
  });

  test("a duplicate key is an error at the second key", () => {
    const text = ["name: first", "services: []", "name: second"].join("\n");
    const err = validationErrorOf(() => parseYaml(text, "dup.yaml", layoutSchema));
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0]?.line, 3);
    assert.match(err.message, /^dup\.yaml:3:1: .*unique/);
  });

  test("a duplicate key inside a service is an error too", () => {
    const text = layoutText(
      [
        "    pool: live",
        "    pool: backtest",
        "    command: node",
        "    resources: { cores: 1, memory: 1GiB }",
      ].join("\n"),
    );
    const err = validationErrorOf(() => parseYaml(text, "dup.yaml", layoutSchema));
    assert.equal(err.issues[0]?.line, 6);
  });
});

describe("readYamlFile", () => {
  test("a missing file is a ValidationError naming it, not an ENOENT", () => {
    const file = `${examples}does-not-exist.yaml`;
    const err = validationErrorOf(() => readYamlFile(file, layoutSchema));
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0]?.file, file);
    assert.ok(err.message.startsWith(`${file}: `), err.message);
    assert.ok(err.message.includes("no such file"), err.message);
    assert.ok(!err.message.includes("ENOENT"), err.message);
  });

  test("a directory is a ValidationError too", () => {
    const err = validationErrorOf(() => readYamlFile(examples, layoutSchema));
    assert.equal(err.issues[0]?.file, examples);
    assert.ok(err.message.includes("expected a readable YAML file"), err.message);
  });

  test("a file with errors names that file", () => {
    const file = `${examples}invalid/memory-lots.yaml`;
    const err = validationErrorOf(() => readYamlFile(file, layoutSchema));
    assert.equal(err.issues[0]?.file, file);
    assert.equal(err.issues[0]?.line, 8);
  });
});

describe("ParsedYaml.locate", () => {
  test("finds the line of a path reported after parsing", () => {
    const text = layoutText(
      ["    pool: live", "    command: node", "    resources: { cores: 1, memory: 1GiB }"].join("\n"),
    );
    const parsed = parseYaml(text, "ok.yaml", layoutSchema);
    const issue = parsed.locate({ path: "services[0].command", found: '"node"', expected: "a program" });
    assert.deepEqual(issue, {
      file: "ok.yaml",
      line: 6,
      column: 14,
      path: "services[0].command",
      found: '"node"',
      expected: "a program",
    });
    // A path that is not in the document falls back to its deepest existing parent.
    assert.equal(parsed.locate({ path: "services[0].sockets.offers", expected: "x" }).line, 3);
  });

  test("works with any schema", () => {
    const schema = z.strictObject({ port: z.number().int() });
    assert.deepEqual(parseYaml("port: 7400\n", "p.yaml", schema).value, { port: 7400 });
    const err = validationErrorOf(() => parseYaml("\nport: seven\n", "p.yaml", schema));
    assert.match(err.message, /^p\.yaml:2:7: port: found "seven", expected number$/);
  });
});

describe("validation-error helpers", () => {
  test("formatPath prints keys and indices as people write them", () => {
    assert.equal(formatPath([]), "");
    assert.equal(formatPath(["services", 1, "resources", "memory"]), "services[1].resources.memory");
    assert.equal(formatPath([0, "a"]), "[0].a");
  });

  test("formatIssue prints file:line:col, path, found and expected", () => {
    assert.equal(
      formatIssue({ file: "f.yaml", line: 3, column: 5, path: "a.b", found: "1", expected: "two" }),
      "f.yaml:3:5: a.b: found 1, expected two",
    );
    assert.equal(
      formatIssue({ file: "f.yaml", path: "", expected: "x" }),
      "f.yaml: (document): missing, expected x",
    );
    assert.equal(formatIssue({ path: "a", found: "1", expected: "x" }), "a: found 1, expected x");
    assert.equal(
      formatIssue({ file: "f.yaml", line: 2, path: "a", expected: "x" }),
      "f.yaml:2:1: a: missing, expected x",
    );
  });

  test("describeValue is brief", () => {
    assert.equal(describeValue(undefined), "nothing");
    assert.equal(describeValue(null), "null");
    assert.equal(describeValue([1, 2, 3]), "a list of 3");
    assert.equal(describeValue({ a: 1 }), "an object");
    assert.equal(describeValue("lots"), '"lots"');
    assert.equal(describeValue(4), "4");
    const long = describeValue("x".repeat(100));
    assert.equal(long.length, 60);
    assert.ok(long.endsWith("..."));
  });
});
