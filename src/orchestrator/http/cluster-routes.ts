/** Routes of the cluster itself: nodes, draining, the dataset catalogue. */
import type { FastifyInstance } from "fastify";
import type { ControlPlane, DatasetView, NodeView } from "../control-plane.ts";
import { drainBody, idParams, parseInput } from "./request-input.ts";

/** Registers `GET /v1/nodes`, `POST /v1/nodes/:id/drain` and `GET /v1/datasets`. */
export function registerClusterRoutes(app: FastifyInstance, control: ControlPlane): void {
  app.get("/v1/nodes", async (): Promise<NodeView[]> => control.listNodes());

  app.post("/v1/nodes/:id/drain", async (request): Promise<NodeView> => {
    const { id } = parseInput(idParams, request.params, "path");
    const { draining } = parseInput(drainBody, request.body, "body");
    return control.drain(id, draining);
  });

  app.get("/v1/datasets", async (): Promise<DatasetView[]> => control.listDatasets());
}
