/**
 * Routes of live trading's safety controls: failover, the kill switch, the gateways' accounts,
 * and who steers a gateway.
 */
import type { FastifyInstance } from "fastify";
import type {
  ControlPlane,
  FailoverView,
  GatewayAccountView,
  GatewayReassignView,
  KillResult,
} from "../control-plane.ts";
import { noteAudit, principalOf } from "./api-guard.ts";
import {
  accountParams,
  accountsQuery,
  failoverBody,
  gatewayParams,
  killBody,
  parseInput,
  reassignBody,
} from "./request-input.ts";

/**
 * Registers `POST /v1/failover` (`{layout, service}`), `POST /v1/accounts/:account/kill`
 * (`{reason}`), `DELETE /v1/accounts/:account/kill`, `GET /v1/accounts[?account=]` and
 * `POST /v1/gateways/:gateway/reassign` (`{from}`).
 */
export function registerTradingRoutes(app: FastifyInstance, control: ControlPlane): void {
  app.post("/v1/failover", async (request): Promise<FailoverView> => {
    const { layout, service } = parseInput(failoverBody, request.body, "body");
    return control.failover(layout, service);
  });

  app.post("/v1/accounts/:account/kill", async (request): Promise<KillResult[]> => {
    const { account } = parseInput(accountParams, request.params, "path");
    const { reason, force } = parseInput(killBody, request.body ?? {}, "body");
    return control.kill(account, reason, { force });
  });

  app.delete("/v1/accounts/:account/kill", async (request): Promise<{ account: string; killed: false }> => {
    const { account } = parseInput(accountParams, request.params, "path");
    await control.unkill(account);
    return { account, killed: false };
  });

  app.get("/v1/accounts", async (request): Promise<GatewayAccountView[]> => {
    const { account } = parseInput(accountsQuery, request.query, "query");
    return control.accounts(account);
  });

  app.post("/v1/gateways/:gateway/reassign", async (request): Promise<GatewayReassignView> => {
    const { gateway } = parseInput(gatewayParams, request.params, "path");
    const { from } = parseInput(reassignBody, request.body ?? {}, "body");
    // Who asked goes to the gateway's own audit; the orchestrator's trail has the token already.
    const who = principalOf(request);
    const by = who === undefined ? "anonymous" : `token ${who.id} (${who.name})`;
    const view = await control.reassignGateway(gateway, from, by);
    noteAudit(request, { to: view.to, storeEpoch: view.storeEpoch });
    return view;
  });
}
