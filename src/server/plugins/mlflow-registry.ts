/** MLflow REST API 2.0: the model registry (registered-models and model-versions). */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { RegistryService } from "../../registry/registry-service.js";
import { requesterOf } from "../identity.js";
import { int64, keyValue, repeated, str } from "../mlflow/fields.js";
import { modelVersionJson, registeredModelJson } from "../mlflow/registry-wire.js";
import { route, type ApiRegistry } from "../route.js";

const name = z.object({ name: z.string() });
const version = z.object({ name: z.string(), version: str });
const search = z.object({
  filter: z.string().optional(),
  max_results: int64.optional(),
  order_by: repeated(z.string()).optional(),
  page_token: z.string().optional(),
});
const searchInput = (i: z.infer<typeof search>) => ({
  ...(i.filter !== undefined ? { filter: i.filter } : {}),
  ...(i.order_by !== undefined ? { orderBy: i.order_by } : {}),
  ...(i.max_results !== undefined ? { maxResults: i.max_results } : {}),
  ...(i.page_token !== undefined ? { pageToken: i.page_token } : {}),
});

export function mlflowRegistryPlugin(registry: RegistryService, docs?: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const tag = "MLflow model registry";
    const rm = (m: Parameters<typeof registeredModelJson>[0]) => ({ registered_model: registeredModelJson(m) });
    const mv = (v: Parameters<typeof modelVersionJson>[0]) => ({ model_version: modelVersionJson(v) });

    route(
      app,
      docs,
      {
        methods: ["POST"],
        url: "/registered-models/create",
        summary: "Create a registered model",
        tag,
        input: z.object({ name: z.string(), tags: z.array(keyValue).optional(), description: z.string().optional() }),
      },
      async ({ input, req }) => rm(await registry.createModel(input.name, input.description ?? "", input.tags ?? [], requesterOf(req))),
    );
    route(app, docs, { methods: ["GET"], url: "/registered-models/get", summary: "Get a registered model", tag, input: name }, async ({ input }) =>
      rm(await registry.getModel(input.name)),
    );
    route(
      app,
      docs,
      { methods: ["POST"], url: "/registered-models/rename", summary: "Rename a registered model", tag, input: z.object({ name: z.string(), new_name: z.string() }) },
      async ({ input, req }) => rm(await registry.renameModel(input.name, input.new_name, requesterOf(req))),
    );
    route(
      app,
      docs,
      { methods: ["PATCH"], url: "/registered-models/update", summary: "Update a registered model's description", tag, input: z.object({ name: z.string(), description: z.string().optional() }) },
      async ({ input }) => rm(await registry.updateModel(input.name, input.description ?? "")),
    );
    route(app, docs, { methods: ["DELETE"], url: "/registered-models/delete", summary: "Delete a registered model and its versions", tag, input: name }, async ({ input, req }) => {
      await registry.deleteModel(input.name, requesterOf(req));
      return {};
    });
    route(
      app,
      docs,
      { methods: ["GET", "POST"], url: "/registered-models/search", summary: "Search registered models (name =, LIKE, ILIKE; tags.*)", tag, input: search },
      async ({ input }) => {
        const res = await registry.searchModels(searchInput(input));
        return { registered_models: res.models.map(registeredModelJson), ...(res.nextPageToken !== undefined ? { next_page_token: res.nextPageToken } : {}) };
      },
    );
    route(
      app,
      docs,
      {
        methods: ["GET", "POST"],
        url: "/registered-models/get-latest-versions",
        summary: "Latest version per stage",
        tag,
        input: z.object({ name: z.string(), stages: repeated(z.string()).optional() }),
      },
      async ({ input }) => ({ model_versions: (await registry.latestVersions(input.name, input.stages ?? [])).map(modelVersionJson) }),
    );
    route(
      app,
      docs,
      { methods: ["POST"], url: "/registered-models/set-tag", summary: "Set a tag on a registered model", tag, input: z.object({ name: z.string(), key: z.string(), value: str }) },
      async ({ input }) => {
        await registry.setModelTag(input.name, { key: input.key, value: input.value });
        return {};
      },
    );
    route(
      app,
      docs,
      { methods: ["DELETE"], url: "/registered-models/delete-tag", summary: "Delete a tag from a registered model", tag, input: z.object({ name: z.string(), key: z.string() }) },
      async ({ input }) => {
        await registry.deleteModelTag(input.name, input.key);
        return {};
      },
    );
    route(
      app,
      docs,
      { methods: ["POST"], url: "/registered-models/alias", summary: "Point an alias at a version", tag, input: z.object({ name: z.string(), alias: z.string(), version: str }) },
      async ({ input, req }) => {
        await registry.setAlias(input.name, input.alias, input.version, requesterOf(req));
        return {};
      },
    );
    route(
      app,
      docs,
      { methods: ["DELETE"], url: "/registered-models/alias", summary: "Delete an alias", tag, input: z.object({ name: z.string(), alias: z.string() }) },
      async ({ input, req }) => {
        await registry.deleteAlias(input.name, input.alias, requesterOf(req));
        return {};
      },
    );
    route(
      app,
      docs,
      { methods: ["GET"], url: "/registered-models/alias", summary: "The version an alias points at", tag, input: z.object({ name: z.string(), alias: z.string() }) },
      async ({ input }) => mv(await registry.versionByAlias(input.name, input.alias)),
    );

    route(
      app,
      docs,
      {
        methods: ["POST"],
        url: "/model-versions/create",
        summary: "Register a version from a model package in the artifact store; its package is checked",
        tag,
        input: z.object({
          name: z.string(),
          source: z.string(),
          run_id: z.string().optional(),
          tags: z.array(keyValue).optional(),
          run_link: z.string().optional(),
          description: z.string().optional(),
          model_id: z.string().optional(),
        }),
      },
      async ({ input, req }) =>
        mv(
          await registry.createVersion({
            name: input.name,
            source: input.source,
            ...(input.run_id !== undefined ? { runId: input.run_id } : {}),
            ...(input.run_link !== undefined ? { runLink: input.run_link } : {}),
            ...(input.description !== undefined ? { description: input.description } : {}),
            ...(input.model_id !== undefined && input.model_id !== "" ? { modelId: input.model_id } : {}),
            tags: input.tags ?? [],
            userId: requesterOf(req),
          }),
        ),
    );
    route(app, docs, { methods: ["GET"], url: "/model-versions/get", summary: "Get a model version", tag, input: version }, async ({ input }) =>
      mv(await registry.getVersion(input.name, input.version)),
    );
    route(
      app,
      docs,
      { methods: ["PATCH"], url: "/model-versions/update", summary: "Update a version's description", tag, input: z.object({ name: z.string(), version: str, description: z.string().optional() }) },
      async ({ input }) => mv(await registry.updateVersion(input.name, input.version, input.description ?? "")),
    );
    route(app, docs, { methods: ["DELETE"], url: "/model-versions/delete", summary: "Delete a model version", tag, input: version }, async ({ input, req }) => {
      await registry.deleteVersion(input.name, input.version, requesterOf(req));
      return {};
    });
    route(
      app,
      docs,
      { methods: ["GET", "POST"], url: "/model-versions/search", summary: "Search versions (name, run_id, source_path, tags.*)", tag, input: search },
      async ({ input }) => {
        const res = await registry.searchVersions(searchInput(input));
        return { model_versions: res.versions.map(modelVersionJson), ...(res.nextPageToken !== undefined ? { next_page_token: res.nextPageToken } : {}) };
      },
    );
    route(
      app,
      docs,
      {
        methods: ["POST"],
        url: "/model-versions/transition-stage",
        summary: "Move a version to None, Staging, Production or Archived",
        tag,
        input: z.object({ name: z.string(), version: str, stage: z.string(), archive_existing_versions: z.union([z.boolean(), z.enum(["true", "false", "True", "False"])]).optional() }),
      },
      async ({ input, req }) => {
        const archive = input.archive_existing_versions === true || input.archive_existing_versions === "true" || input.archive_existing_versions === "True";
        return mv(await registry.transitionStage(input.name, input.version, input.stage, archive, requesterOf(req)));
      },
    );
    route(app, docs, { methods: ["GET"], url: "/model-versions/get-download-uri", summary: "Where a version's files are", tag, input: version }, async ({ input }) => ({
      artifact_uri: await registry.downloadUri(input.name, input.version),
    }));
    route(
      app,
      docs,
      { methods: ["POST"], url: "/model-versions/set-tag", summary: "Set a tag on a model version", tag, input: z.object({ name: z.string(), version: str, key: z.string(), value: str }) },
      async ({ input }) => {
        await registry.setVersionTag(input.name, input.version, { key: input.key, value: input.value });
        return {};
      },
    );
    route(
      app,
      docs,
      { methods: ["DELETE"], url: "/model-versions/delete-tag", summary: "Delete a tag from a model version", tag, input: z.object({ name: z.string(), version: str, key: z.string() }) },
      async ({ input }) => {
        await registry.deleteVersionTag(input.name, input.version, input.key);
        return {};
      },
    );
  };
}
