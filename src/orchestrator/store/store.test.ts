import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { MemoryStore } from "./memory-store.ts";
import { openSqliteStore } from "./sqlite-store.ts";
import { registerStoreContract } from "./store-contract.ts";
import { registerAuthStoreContract } from "./store-contract-auth.ts";

const root = mkdtempSync(join(tmpdir(), "hive-store-contract-"));
after(() => rmSync(root, { recursive: true, force: true }));
let files = 0;

registerStoreContract("memory", () => Promise.resolve(new MemoryStore()));
registerStoreContract("sqlite", () => openSqliteStore(join(root, `store-${++files}.db`)));
registerAuthStoreContract("memory", () => Promise.resolve(new MemoryStore()));
registerAuthStoreContract("sqlite", () => openSqliteStore(join(root, `store-${++files}.db`)));
