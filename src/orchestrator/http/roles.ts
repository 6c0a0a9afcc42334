/**
 * What each role of an API token may do. Four roles, each a set of duties:
 *
 *   viewer    read everything (layouts, nodes, deployments, logs, accounts, metrics)
 *   operator  viewer + change what runs: apply and stop layouts, drain nodes, datasets
 *   trader    viewer + live trading's safety controls: failover, the kill switch and its lift
 *   admin     everything: the two above, API tokens and the audit trail
 *
 * Operator and trader do not include each other (separation of duties, as on a trading desk:
 * the people who deploy code are not the ones who move or halt an account, and the other way
 * round); both include viewer; admin includes all.
 */
import { API_ROLES, type ApiRole } from "../store/auth-records.ts";

export { API_ROLES, type ApiRole };

/** The roles whose duties each role has (itself included). */
const GRANTS: Readonly<Record<ApiRole, readonly ApiRole[]>> = {
  viewer: ["viewer"],
  operator: ["operator", "viewer"],
  trader: ["trader", "viewer"],
  admin: API_ROLES,
};

/** Whether a token of role `have` may call a route that needs `need`. */
export function roleAllows(have: ApiRole, need: ApiRole): boolean {
  return GRANTS[have].includes(need);
}

/** Whether `text` names a role. */
export function isApiRole(text: string): text is ApiRole {
  return (API_ROLES as readonly string[]).includes(text);
}
