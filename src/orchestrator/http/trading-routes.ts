/** Routes of live trading's safety controls: failover, the kill switch, the gateways' accounts. */
import type { FastifyInstance } from "fastify";
import type { ControlPlane, FailoverView, GatewayAccountView, KillResult } from "../control-plane.ts";
import { accountParams, accountsQuery, failoverBody, killBody, parseInput } from "./request-input.ts";

/**
 * Registers `POST /v1/failover` (`{layout, service}`), `POST /v1/accounts/:account/kill`
 * (`{reason}`), `DELETE /v1/accounts/:account/kill` and `GET /v1/accounts[?account=]`.
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
}
