/** Routes of layouts: apply, list, show, stop. */
import type { FastifyInstance } from "fastify";
import type { ApplyResult, ControlPlane, LayoutView } from "../control-plane.ts";
import { noteAudit } from "./api-guard.ts";
import { applyBody, nameParams, parseInput } from "./request-input.ts";

/** What `DELETE /v1/layouts/:name` answers once the stop is recorded (the layout goes once its processes stop). */
export interface StopResult {
  readonly layout: string;
  readonly stopped: true;
}

/** Registers `POST|GET /v1/layouts` and `GET|DELETE /v1/layouts/:name`. */
export function registerLayoutRoutes(app: FastifyInstance, control: ControlPlane): void {
  app.post("/v1/layouts", async (request): Promise<ApplyResult> => {
    const { source, file } = parseInput(applyBody, request.body, "body");
    const result = await control.applyLayout(source, file);
    noteAudit(request, { layout: result.layout, generation: String(result.generation) });
    return result;
  });

  app.get("/v1/layouts", async (): Promise<LayoutView[]> => control.listLayouts());

  app.get("/v1/layouts/:name", async (request): Promise<LayoutView> => {
    const { name } = parseInput(nameParams, request.params, "path");
    return control.getLayout(name);
  });

  app.delete("/v1/layouts/:name", async (request): Promise<StopResult> => {
    const { name } = parseInput(nameParams, request.params, "path");
    await control.stopLayout(name);
    return { layout: name, stopped: true };
  });
}
