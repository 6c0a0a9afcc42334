/** The orchestrator's desired-state store: the Store interface, its records, SQLite and memory. */
export type { Store, StoreKind } from "./store.ts";
export {
  LAYOUT_STATES,
  DEPLOYMENT_ROLES,
  DESIRED_STATES,
  type LayoutRecord,
  type LayoutState,
  type DeploymentRecord,
  type DeploymentRole,
  type DeploymentFilter,
  type DesiredState,
  type LastExit,
} from "./store-records.ts";
export { MemoryStore } from "./memory-store.ts";
export { SqliteStore, openSqliteStore, type SqliteStoreOptions, type SqlitePragmas } from "./sqlite-store.ts";
export { SCHEMA_VERSION } from "./sqlite-schema.ts";
export { openStore } from "./open-store.ts";
export {
  API_ROLES,
  MAX_AUDIT_PAGE,
  type ApiRole,
  type ApiTokenRecord,
  type AuditEntry,
  type AuditInput,
  type AuditQuery,
} from "./auth-records.ts";
