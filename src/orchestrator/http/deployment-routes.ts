/** Routes of deployments and of the scheduler's explanations on the live cluster. */
import type { FastifyInstance } from "fastify";
import type { ControlPlane, DeploymentView, ServiceExplanation } from "../control-plane.ts";
import { deploymentsQuery, explainQuery, parseInput } from "./request-input.ts";

/** Registers `GET /v1/deployments?layout=&node=` and `GET /v1/explain?layout=&service=`. */
export function registerDeploymentRoutes(app: FastifyInstance, control: ControlPlane): void {
  app.get("/v1/deployments", async (request): Promise<DeploymentView[]> => {
    const { layout, node } = parseInput(deploymentsQuery, request.query, "query");
    const filter: { layout?: string; nodeId?: string } = {};
    if (layout !== undefined) filter.layout = layout;
    if (node !== undefined) filter.nodeId = node;
    return control.listDeployments(filter);
  });

  app.get("/v1/explain", async (request): Promise<ServiceExplanation> => {
    const { layout, service } = parseInput(explainQuery, request.query, "query");
    return control.explain(layout, service);
  });
}
