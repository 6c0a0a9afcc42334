import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ValidationError } from "../domain/validation-error.ts";
import { DEFAULT_RISK_LIMITS, readGatewayConfig } from "./gateway-config.ts";

function withFile(text: string, fn: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "hive-gwcfg-"));
  try {
    const file = join(dir, "gateway.yaml");
    writeFileSync(file, text);
    fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("per-account limits are merged over the default block, which is merged over the built-in defaults", () => {
  withFile(
    "brokerTimeoutMs: 500\nrisk:\n  default:\n    maxOrderQty: 50\n  accounts:\n    ACC-1:\n      maxNotional: 1000\n",
    (file) => {
      const c = readGatewayConfig(file);
      assert.equal(c.brokerTimeoutMs, 500);
      assert.deepEqual(c.defaultLimits, { ...DEFAULT_RISK_LIMITS, maxOrderQty: 50 });
      assert.deepEqual(c.accountLimits.get("ACC-1"), {
        ...DEFAULT_RISK_LIMITS,
        maxOrderQty: 50,
        maxNotional: 1000,
      });
    },
  );
});

test("a bad field is a ValidationError naming file, line and field", () => {
  withFile("risk:\n  default:\n    maxOrderQty: -1\n    maxNotionl: 5\n", (file) => {
    assert.throws(
      () => readGatewayConfig(file),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.match(err.message, /gateway\.yaml:3:\d+: risk\.default\.maxOrderQty/);
        assert.match(err.message, /gateway\.yaml:4:\d+: risk\.default\.maxNotionl: found unknown field/);
        return true;
      },
    );
  });
});

test("auditArchiveAfterDays: days to milliseconds, 7 by default, 0 allowed (never), below 0 refused", () => {
  withFile("auditArchiveAfterDays: 1.5\n", (file) => {
    assert.equal(readGatewayConfig(file).auditArchiveAfterMs, 1.5 * 24 * 60 * 60 * 1000);
  });
  withFile("auditArchiveAfterDays: 0\n", (file) => {
    assert.equal(readGatewayConfig(file).auditArchiveAfterMs, 0);
  });
  withFile("brokerTimeoutMs: 500\n", (file) => {
    assert.equal(readGatewayConfig(file).auditArchiveAfterMs, 7 * 24 * 60 * 60 * 1000);
  });
  withFile("auditArchiveAfterDays: -1\n", (file) => {
    assert.throws(
      () => readGatewayConfig(file),
      /gateway\.yaml:1:\d+: auditArchiveAfterDays.*0 \(never\) or more days/,
    );
  });
});

test("auditFullRefusalsPerSecond: 10 by default, 0 allowed (summary rows only), fractions and below 0 refused", () => {
  withFile("brokerTimeoutMs: 500\n", (file) => {
    assert.equal(readGatewayConfig(file).auditFullRefusalsPerSecond, 10);
  });
  withFile("auditFullRefusalsPerSecond: 0\n", (file) => {
    assert.equal(readGatewayConfig(file).auditFullRefusalsPerSecond, 0);
  });
  withFile("auditFullRefusalsPerSecond: -1\n", (file) => {
    assert.throws(
      () => readGatewayConfig(file),
      /gateway\.yaml:1:\d+: auditFullRefusalsPerSecond.*0 \(summary/,
    );
  });
  withFile("auditFullRefusalsPerSecond: 2.5\n", (file) => {
    assert.throws(
      () => readGatewayConfig(file),
      /gateway\.yaml:1:\d+: auditFullRefusalsPerSecond: found 2\.5/,
    );
  });
});
