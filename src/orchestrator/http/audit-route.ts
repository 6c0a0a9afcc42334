/**
 * `GET /v1/audit?since=&after=&limit=`: a page of the audit trail, oldest first. With neither
 * `since` (an ISO time) nor `after` (a sequence number), the last `limit` entries (default 100,
 * at most 1,000). `next` is the `after` that asks for what follows this page: a reader pages with
 * it, or polls with it to follow the trail.
 */
import type { FastifyInstance } from "fastify";
import type { AuditEntry } from "../store/auth-records.ts";
import type { ApiSecurityStore } from "./api-guard.ts";
import { auditQuery, parseInput } from "./request-input.ts";

/** What `GET /v1/audit` answers. */
export interface AuditPage {
  readonly entries: AuditEntry[];
  /** Pass as `after` for the entries that follow this page. */
  readonly next: number;
}

/** Registers `GET /v1/audit`. */
export function registerAuditRoute(app: FastifyInstance, store: ApiSecurityStore): void {
  app.get("/v1/audit", async (request): Promise<AuditPage> => {
    const { since, after, limit } = parseInput(auditQuery, request.query, "query");
    const entries = await store.listAudit({
      limit,
      ...(since !== undefined ? { since } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    return { entries, next: entries.at(-1)?.seq ?? after ?? 0 };
  });
}
