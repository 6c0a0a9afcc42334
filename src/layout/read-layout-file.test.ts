import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ValidationError, type ValidationIssue } from "../domain/index.ts";
import { locateLayoutIssues, readLayoutFile, readManifestFile } from "./read-layout-file.ts";
import { validateLayout } from "./validate-layout.ts";

const examples = fileURLToPath(new URL("../../examples/layouts/", import.meta.url));
const invalid = join(examples, "invalid");

/** The 1-based line of the first line of `file` containing `text`; fails the test if there is none. */
function lineOf(file: string, text: string): number {
  const index = readFileSync(file, "utf8")
    .split("\n")
    .findIndex((line) => line.includes(text));
  assert.notEqual(index, -1, `${text} not in ${file}`);
  return index + 1;
}

/** The ValidationError that reading `file` throws (anything else fails the test). */
function readError(file: string, read: (file: string) => unknown = readLayoutFile): ValidationError {
  try {
    read(file);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    return err;
  }
  assert.fail(`${file} was accepted`);
}

describe("readLayoutFile: the examples", () => {
  for (const name of ["live-trading.yaml", "backtest-simulation.yaml"]) {
    it(`${name} is valid`, () => {
      const layout = readLayoutFile(join(examples, name));
      assert.ok(layout.services.length > 0);
      assert.deepEqual(validateLayout(layout), []);
    });
  }

  it("reads the live example's wiring", () => {
    const layout = readLayoutFile(join(examples, "live-trading.yaml"));
    assert.deepEqual(
      layout.wires.map((w) => `${w.from.service}.${w.from.socket}>${w.to.service}.${w.to.socket}`),
      ["feeder.market_data>momentum.market_data"],
    );
    assert.deepEqual(
      layout.gateways.map((g) => [g.name, g.orders.map((e) => `${e.service}.${e.socket}`)]),
      [["paper", ["momentum.orders"]]],
    );
  });
});

interface BadFile {
  file: string;
  /** Each expected issue: path, the text of the line it must point at, and a pattern for the rest. */
  issues: { path: string; at?: string; file?: string; message: RegExp }[];
}

const badFiles: BadFile[] = [
  {
    file: "memory-lots.yaml",
    issues: [
      {
        path: "services[0].resources.memory",
        at: "memory: lots",
        message: /found "lots", expected a size such as 512MiB/,
      },
    ],
  },
  {
    file: "missing-pool.yaml",
    issues: [
      { path: "services[0].pool", at: "- name: sweep", message: /missing, expected one of live, backtest/ },
    ],
  },
  {
    file: "misspelt-field.yaml",
    issues: [
      { path: "services[1].command", at: "- name: sweep", message: /missing/ },
      {
        path: "services[1].comand",
        at: "comand: node",
        message: /found unknown field comand, expected .*misspelt/,
      },
    ],
  },
  {
    file: "bad-wiring.yaml",
    issues: [
      {
        path: "wires[0].to",
        at: "to: momentum.order }",
        message: /found momentum\.order, expected a socket of momentum: market_data, orders/,
      },
      {
        path: "wires[1]",
        at: "to: momentum.orders }",
        message: /found pub feeder\.market_data wired to dealer momentum\.orders/,
      },
      {
        path: "services[1].sockets.consumes[0]",
        at: "{ name: market_data, pattern: sub }",
        message: /momentum\.market_data \(sub\) with no wire/,
      },
    ],
  },
  {
    file: "manifest-ref.yaml",
    issues: [
      {
        file: "manifests/bad-gateway.yaml",
        path: "sockets.offers[0].pattern",
        at: "pattern: routr",
        message: /found "routr", expected one of pub, sub/,
      },
    ],
  },
];

describe("readLayoutFile: invalid files name the file, line, field, found and expected", () => {
  for (const bad of badFiles) {
    it(bad.file, () => {
      const layoutFile = join(invalid, bad.file);
      const err = readError(layoutFile);
      assert.deepEqual(
        err.issues.map((i) => i.path),
        bad.issues.map((i) => i.path),
      );
      bad.issues.forEach((want, n) => {
        const file = join(invalid, want.file ?? bad.file);
        const line = want.at === undefined ? undefined : lineOf(file, want.at);
        const issue = err.issues[n] as ValidationIssue;
        assert.equal(issue.file, file);
        assert.equal(issue.line, line);
        const formatted = err.message.split("\n")[n] ?? "";
        assert.ok(formatted.startsWith(`${file}:${line}:`), formatted);
        assert.ok(formatted.includes(`: ${want.path}: `), formatted);
        assert.match(formatted, want.message);
      });
    });
  }

  it("a YAML syntax error names the file and line", () => {
    // Written to a temporary directory: a file that is not YAML would break `prettier --check .`.
    const dir = mkdtempSync(join(tmpdir(), "hive-yaml-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "not-yaml.yaml");
    writeFileSync(
      file,
      "name: broken\nservices:\n  - name: feeder\n    resources: { cores: 1, memory: 256MiB\n    pool: live\n",
    );
    const err = readError(file);
    assert.equal(err.issues.length, 1);
    const where = `${escape(file)}:${lineOf(file, "pool: live")}:\\d+`;
    assert.match(
      err.message,
      new RegExp(`^${where}: \\(document\\): found invalid YAML, expected valid YAML \\(.*indented`),
    );
  });

  it("a missing file is a ValidationError naming it", () => {
    const file = join(invalid, "no-such-layout.yaml");
    assert.match(readError(file).message, new RegExp(`^${escape(file)}: \\(document\\): found no such file`));
  });
});

describe("readLayoutFile: services in files of their own", () => {
  const dir = mkdtempSync(join(tmpdir(), "hive-layout-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const feeder = [
    "name: feeder",
    "kind: feeder",
    "pool: live",
    "command: node",
    "resources: { cores: 1, memory: 256MiB }",
    "sockets:",
    "  offers:",
    "    - { name: market_data, pattern: pub }",
  ];
  const momentum = [
    "name: momentum",
    "kind: strategy",
    "pool: live",
    "command: node",
    "resources: { cores: 1, memory: 512MiB }",
    "sockets:",
    "  consumes:",
    "    - { name: market_data, pattern: sub }",
    "    - { name: orders, pattern: dealer }",
  ];
  const write = (name: string, lines: string[]) => {
    const file = join(dir, name);
    writeFileSync(file, `${lines.join("\n")}\n`);
    return file;
  };
  const indent = (lines: string[]) => lines.map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`));

  it("places issues the orchestrator found in the inlined text in the files as written", () => {
    const feederFile = write("feeder-ref.yaml", feeder);
    const layout = write("with-gateway.yaml", [
      "name: refs",
      "services:",
      "  - file: feeder-ref.yaml",
      ...indent([...momentum, "accounts: [acct-1]"]),
      "gateways:",
      "  - name: nowhere",
      "    orders: [momentum.orders]",
      "wires:",
      "  - { from: feeder.market_data, to: momentum.market_data }",
    ]);
    // As the orchestrator's checks word them, with positions in the text it was sent.
    const found = [
      {
        file: layout,
        line: 27,
        column: 11,
        path: "gateways[0].name",
        found: "nowhere",
        expected: "a gateway",
      },
      { file: layout, line: 3, column: 5, path: "services[0].pool", found: "live", expected: "x" },
      { file: layout, line: 9, column: 5, path: "services[1].accounts", found: "acct-1", expected: "y" },
    ];
    const placed = locateLayoutIssues(layout, found);
    assert.deepEqual(
      placed.map((i) => [i.file, i.line, i.path]),
      [
        [layout, lineOf(layout, "- name: nowhere"), "gateways[0].name"],
        [feederFile, lineOf(feederFile, "pool: live"), "pool"],
        [layout, lineOf(layout, "accounts: [acct-1]"), "services[1].accounts"],
      ],
    );
  });

  it("substitutes a { file } entry, resolved relative to the layout, as if inline", () => {
    write("feeder.yaml", feeder);
    const wires = ["wires:", "  - { from: feeder.market_data, to: momentum.market_data }"];
    const optional = momentum.map((l) => l.replace("pattern: dealer }", "pattern: dealer, optional: true }"));
    const byFile = write("by-file.yaml", [
      "name: split",
      "services:",
      "  - file: feeder.yaml",
      ...indent(optional),
      ...wires,
    ]);
    const inline = write("inline.yaml", [
      "name: split",
      "services:",
      ...indent(feeder),
      ...indent(optional),
      ...wires,
    ]);
    assert.deepEqual(readLayoutFile(byFile), readLayoutFile(inline));
  });

  it("locates a wiring issue of a { file } service in that file", () => {
    write("feeder.yaml", feeder);
    const file = write("momentum.yaml", momentum);
    const layout = write("unwired.yaml", [
      "name: split",
      "services:",
      "  - file: feeder.yaml",
      "  - file: momentum.yaml",
      "wires:",
      "  - { from: feeder.market_data, to: momentum.market_data }",
    ]);
    const err = readError(layout);
    assert.deepEqual(err.issues, [
      {
        file,
        line: lineOf(file, "pattern: dealer"),
        column: 7,
        path: "sockets.consumes[1]",
        found: "momentum.orders (dealer) with no wire",
        expected: "a wire to an offered router, rep or dealer socket, or optional: true",
      },
    ]);
  });

  it("names the manifest file when it does not exist", () => {
    const layout = write("missing-ref.yaml", ["name: split", "services:", "  - file: nowhere.yaml"]);
    assert.match(
      readError(layout).message,
      new RegExp(`^${escape(join(dir, "nowhere.yaml"))}: .*no such file`),
    );
  });

  it("rejects a { file } entry with other fields, in the layout file", () => {
    const layout = write("mixed-ref.yaml", [
      "name: split",
      "services:",
      "  - file: feeder.yaml",
      "    name: feeder",
    ]);
    const [issue, ...rest] = readError(layout).issues;
    assert.deepEqual(rest, []);
    assert.equal(issue?.file, layout);
    assert.equal(issue?.line, 4);
    assert.equal(issue?.path, "services[0].name");
    assert.match(issue?.expected ?? "", /either \{ file: .* \} alone, or the manifest's fields inline/);
  });

  it("rejects a { file } entry that is not a path", () => {
    const layout = write("number-ref.yaml", ["name: split", "services:", "  - file: 42"]);
    const issue = readError(layout).issues[0];
    assert.equal(issue?.path, "services[0].file");
    assert.equal(issue?.found, "42");
  });
});

describe("readManifestFile", () => {
  it("reads a valid manifest", () => {
    const dir = mkdtempSync(join(tmpdir(), "hive-manifest-"));
    try {
      const file = join(dir, "gateway.yaml");
      const text = readFileSync(join(invalid, "manifests/bad-gateway.yaml"), "utf8").replace(
        "pattern: routr",
        "pattern: router",
      );
      writeFileSync(file, text);
      const manifest = readManifestFile(file);
      assert.equal(manifest.name, "gateway");
      assert.equal(manifest.resources.memoryBytes, 512 * 1024 * 1024);
      assert.deepEqual(manifest.sockets.offers, [{ name: "orders", pattern: "router", optional: false }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names the manifest file and line of an error", () => {
    const file = join(invalid, "manifests/bad-gateway.yaml");
    const err = readError(file, readManifestFile);
    assert.match(
      err.message,
      new RegExp(
        `^${escape(file)}:${lineOf(file, "pattern: routr")}:\\d+: sockets\\.offers\\[0\\]\\.pattern: found "routr"`,
      ),
    );
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
