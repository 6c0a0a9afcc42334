import assert from "node:assert/strict";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { tempDirs } from "../../core/testing/temp-dirs.ts";
import { cannotExecute, deniedTo, granted } from "./access-check.ts";
import { rootForTest } from "./testing/root-for-test.ts";

const dirs = tempDirs();
after(() => dirs.removeAll());
const who = { uid: 20_500, gid: 20_500 };

describe("granted: the kernel's owner, group, others rule", () => {
  test("the owner gets the owner's bits only, the group the group's, everybody else the others'", () => {
    assert.equal(
      granted({ mode: 0o007, uid: 20_500, gid: 0 }, who, 4),
      false,
      "owner: owner bits, not others'",
    );
    assert.equal(granted({ mode: 0o400, uid: 20_500, gid: 0 }, who, 4), true);
    assert.equal(granted({ mode: 0o040, uid: 0, gid: 20_500 }, who, 4), true);
    assert.equal(granted({ mode: 0o704, uid: 0, gid: 20_500 }, who, 4), false, "group: group bits");
    assert.equal(granted({ mode: 0o701, uid: 0, gid: 0 }, who, 1), true);
    assert.equal(granted({ mode: 0o770, uid: 0, gid: 0 }, who, 1), false);
  });
});

describe("deniedTo and cannotExecute on real files", { skip: rootForTest("access-check.test.ts") }, () => {
  test("a directory on the way that the uid cannot search is named, with its mode and owners", () => {
    const top = dirs.make("hive-ac-"); // 0700, root's
    mkdirSync(join(top, "bin"));
    writeFileSync(join(top, "bin", "tool"), "\x7fELF", { mode: 0o755 });
    assert.match(
      deniedTo(join(top, "bin", "tool"), who, ["execute"]) ?? "",
      new RegExp(`cannot search ${top} is 0700 owned by 0:0`),
    );
    chmodSync(top, 0o711);
    assert.equal(deniedTo(join(top, "bin", "tool"), who, ["execute"]), undefined);
    assert.match(deniedTo(join(top, "missing"), who, ["read"]) ?? "", /does not exist/);
  });

  test("a script needs read as well as execute (its interpreter opens it as the uid); a binary only execute", () => {
    const top = dirs.make("hive-ac-");
    chmodSync(top, 0o755);
    writeFileSync(join(top, "script"), "#!/bin/sh\n", { mode: 0o711 });
    writeFileSync(join(top, "binary"), "\x7fELF", { mode: 0o711 });
    assert.match(cannotExecute(join(top, "script"), who) ?? "", /cannot read .*script is 0711/);
    assert.equal(cannotExecute(join(top, "binary"), who), undefined);
    writeFileSync(join(top, "mine"), "#!/bin/sh\n", { mode: 0o500 });
    chownSync(join(top, "mine"), who.uid, who.gid);
    assert.equal(cannotExecute(join(top, "mine"), who), undefined, "its owner's bits");
  });
});
