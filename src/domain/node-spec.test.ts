import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_LINK_BANDWIDTH, nodeSpecSchema, portCount } from "./node-spec.ts";

const GiB = 2 ** 30;

/** A minimal valid node as written in YAML; each test changes what it checks. */
function node(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: "live-01",
    pool: "live",
    capacity: { cores: 8, memory: "32GiB" },
    portRange: { first: 20000, last: 20099 },
    ...overrides,
  };
}

/** The issues of a rejected node, as `path: message` lines. */
function issuesOf(input: unknown): { path: string; message: string; input: unknown }[] {
  const result = nodeSpecSchema.safeParse(input, { reportInput: true });
  if (result.success) assert.fail("expected the node to be rejected");
  return result.error.issues.map((i) => ({
    path: i.path.join("."),
    message: i.message,
    input: "input" in i ? i.input : undefined,
  }));
}

describe("nodeSpecSchema defaults", () => {
  test("a minimal node gets every default", () => {
    const spec = nodeSpecSchema.parse(node());
    assert.deepEqual(spec, {
      id: "live-01",
      pool: "live",
      tags: [],
      capacity: { cores: 8, memoryBytes: 32 * GiB, exclusiveCores: 7 },
      portRange: { first: 20000, last: 20099 },
      hotDatasets: [],
      load: { cpu: 0, memoryUsedBytes: 0 },
      state: "ready",
      draining: false,
      linkBandwidthBytesPerSec: DEFAULT_LINK_BANDWIDTH,
    });
    assert.equal(DEFAULT_LINK_BANDWIDTH, 1.25e9);
  });

  const exclusiveDefaults: [number, number][] = [
    [8, 7],
    [4.5, 3],
    [2, 1],
    [1, 0],
    [1.9, 0],
    [0.5, 0],
  ];
  for (const [cores, exclusive] of exclusiveDefaults) {
    test(`exclusiveCores defaults to ${exclusive} for ${cores} cores (floor(cores) - 1, not below 0)`, () => {
      const spec = nodeSpecSchema.parse(node({ capacity: { cores, memory: "1GiB" } }));
      assert.equal(spec.capacity.exclusiveCores, exclusive);
      assert.equal(spec.capacity.cores, cores);
    });
  }

  test("an explicit exclusiveCores of 0 is kept, not replaced by the default", () => {
    const spec = nodeSpecSchema.parse(node({ capacity: { cores: 8, memory: 1024, exclusiveCores: 0 } }));
    assert.equal(spec.capacity.exclusiveCores, 0);
    assert.equal(spec.capacity.memoryBytes, 1024);
  });

  test("exclusiveCores may be every whole core", () => {
    const spec = nodeSpecSchema.parse(node({ capacity: { cores: 4.5, memory: "1GiB", exclusiveCores: 4 } }));
    assert.equal(spec.capacity.exclusiveCores, 4);
  });

  test("hot datasets get a default version, and given fields are kept", () => {
    const spec = nodeSpecSchema.parse(
      node({
        tags: ["data_node", "ram_128gb"],
        hotDatasets: [{ id: "es-2026q3", bytes: 6 * GiB }],
        load: { cpu: 0.25, memoryUsedBytes: 100 },
        state: "suspect",
        draining: true,
        linkBandwidthBytesPerSec: 1e8,
      }),
    );
    assert.deepEqual(spec.hotDatasets, [{ id: "es-2026q3", version: "1", bytes: 6 * GiB }]);
    assert.deepEqual(spec.tags, ["data_node", "ram_128gb"]);
    assert.deepEqual(spec.load, { cpu: 0.25, memoryUsedBytes: 100 });
    assert.equal(spec.state, "suspect");
    assert.equal(spec.draining, true);
    assert.equal(spec.linkBandwidthBytesPerSec, 1e8);
  });
});

describe("nodeSpecSchema errors", () => {
  test("portRange.last below portRange.first is an error at portRange.last", () => {
    const issues = issuesOf(node({ portRange: { first: 20000, last: 19999 } }));
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.path, "portRange.last");
    assert.equal(issues[0]?.input, 19999);
    assert.match(issues[0]?.message ?? "", /20000/);
  });

  test("a range of one port is accepted", () => {
    const spec = nodeSpecSchema.parse(node({ portRange: { first: 30000, last: 30000 } }));
    assert.equal(portCount(spec), 1);
  });

  test("exclusiveCores above the whole cores is an error at capacity.exclusiveCores", () => {
    const issues = issuesOf(node({ capacity: { cores: 4.5, memory: "1GiB", exclusiveCores: 5 } }));
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.path, "capacity.exclusiveCores");
    assert.equal(issues[0]?.input, 5);
    assert.match(issues[0]?.message ?? "", /\(4\)/);
  });

  const bad: [string, Record<string, unknown>, string][] = [
    ["a port below 1024", { portRange: { first: 80, last: 20099 } }, "portRange.first"],
    ["a port above 65535", { portRange: { first: 20000, last: 70000 } }, "portRange.last"],
    ["an unknown pool", { pool: "gpu" }, "pool"],
    ["a bad id", { id: "-node" }, "id"],
    ["zero cores", { capacity: { cores: 0, memory: "1GiB" } }, "capacity.cores"],
    ["zero memory", { capacity: { cores: 1, memory: 0 } }, "capacity.memory"],
    ["a memory that is not a size", { capacity: { cores: 1, memory: "lots" } }, "capacity.memory"],
    ["a cpu load above 1", { load: { cpu: 1.5, memoryUsedBytes: 0 } }, "load.cpu"],
    ["an unknown state", { state: "dead" }, "state"],
    ["an unknown field", { zone: "tokyo" }, ""],
  ];
  for (const [what, overrides, path] of bad) {
    test(`${what} is an error at ${path === "" ? "the node" : path}`, () => {
      const issues = issuesOf(node(overrides));
      assert.deepEqual(
        issues.map((i) => i.path),
        [path],
      );
    });
  }
});

describe("portCount", () => {
  test("counts the inclusive range", () => {
    assert.equal(portCount({ portRange: { first: 20000, last: 20099 } }), 100);
    assert.equal(portCount({ portRange: { first: 1024, last: 65535 } }), 64512);
  });
});
