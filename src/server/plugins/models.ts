/** Flywheel's model API: resolving `models:/` URIs to the version (and files) they name now. */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { RegistryService } from "../../registry/registry-service.js";
import { modelVersionJson } from "../mlflow/registry-wire.js";
import { route, type ApiRegistry } from "../route.js";

export function modelsPlugin(registry: RegistryService, docs?: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    route(
      app,
      docs,
      {
        methods: ["GET"],
        url: "/models/resolve",
        summary: "Resolve models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/latest or models:/<name>/<stage>",
        tag: "Models",
        input: z.object({ uri: z.string() }),
      },
      async ({ input }) => {
        const version = await registry.resolve(input.uri);
        return { model_version: modelVersionJson(version), artifact_uri: await registry.downloadUri(version.name, version.version) };
      },
    );
  };
}
