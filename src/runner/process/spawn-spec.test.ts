import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeCgroupDriver } from "../cgroups/testing/fake-cgroup-driver.ts";
import { buildEnv, compileSpawnSpec, DEFAULT_GRACE_MS, DEFAULT_LOG_CAP_BYTES } from "./spawn-spec.ts";

const runner = {
  PATH: "/runner/bin",
  HOME: "/root",
  LANG: "C.UTF-8",
  SECRET_TOKEN: "x",
  NODE_OPTIONS: "--inspect",
};

describe("spawn spec", () => {
  it("gives the process exactly its env, plus PATH, HOME and LANG from the runner when missing", () => {
    assert.deepEqual(buildEnv({ HIVE_DEPLOYMENT_ID: "d1" }, runner), {
      PATH: "/runner/bin",
      HOME: "/root",
      LANG: "C.UTF-8",
      HIVE_DEPLOYMENT_ID: "d1",
    });
    assert.deepEqual(buildEnv({ PATH: "/opt/bin", LANG: "" }, { HOME: "/h" }), {
      HOME: "/h",
      PATH: "/opt/bin",
      LANG: "",
    });
    assert.match(buildEnv({}, {})["PATH"] ?? "", /\/usr\/bin/, "a default PATH when nobody has one");
  });

  it("fills defaults", () => {
    const c = compileSpawnSpec({ deploymentId: "d1", command: "x", env: {}, logDir: "/l" }, runner);
    assert.equal(c.graceMs, DEFAULT_GRACE_MS);
    assert.equal(c.logCapBytes, DEFAULT_LOG_CAP_BYTES);
    assert.deepEqual(c.args, []);
    assert.equal(c.env["SECRET_TOKEN"], undefined);
  });

  it("names the field that is wrong", async () => {
    const spec = { deploymentId: "d1", command: "x", env: {}, logDir: "/l" };
    assert.throws(() => compileSpawnSpec({ ...spec, deploymentId: "../d" }), /invalid deployment id/);
    assert.throws(() => compileSpawnSpec({ ...spec, command: "" }), /command="", expected an executable/);
    assert.throws(() => compileSpawnSpec({ ...spec, graceMs: -1 }), /graceMs=-1/);
    assert.throws(() => compileSpawnSpec({ ...spec, logCapBytes: 0 }), /logCapBytes=0/);
    assert.throws(() => compileSpawnSpec({ ...spec, env: { "A=B": "c" } }), /env.A=B/);
    const cgroup = await new FakeCgroupDriver().create("d1", {});
    assert.throws(
      () => compileSpawnSpec({ ...spec, cgroup }),
      /driver=undefined, expected the cgroup driver/,
    );
  });
});
