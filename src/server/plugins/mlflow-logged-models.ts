/**
 * MLflow 3's logged models over MLflow's REST API (`/api/2.0/mlflow/logged-models...`): create,
 * get, finalize, delete, search, tags, params and artifact listing, as MLflow 3 clients call them
 * for every `log_model`.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { ArtifactStore } from "../../storage/artifacts/artifact-store.js";
import { LOGGED_MODEL_STATUSES, type LoggedModelStatus } from "../../storage/metadata/logged-model-store.js";
import type { LoggedModelService } from "../../tracking/logged-models.js";
import { int64, keyValue, repeated, str } from "../mlflow/fields.js";
import { fileInfoJson, loggedModelJson } from "../mlflow/wire.js";
import { route, type ApiRegistry } from "../route.js";
import { sendArtifact } from "./mlflow-artifacts.js";

const status = z.enum(LOGGED_MODEL_STATUSES as unknown as [LoggedModelStatus, ...LoggedModelStatus[]]);
const modelId = { model_id: z.string().min(1) };
const bool = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]);

export function mlflowLoggedModelsPlugin(models: LoggedModelService, artifacts: ArtifactStore, registry?: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const tag = "MLflow logged models";

    route(
      app,
      registry,
      {
        methods: ["POST"],
        url: "/logged-models",
        summary: "Create a logged model (status LOGGED_MODEL_PENDING until finalized)",
        tag,
        input: z.object({
          experiment_id: str.optional(),
          name: z.string().optional(),
          model_type: z.string().optional(),
          source_run_id: z.string().optional(),
          params: z.array(keyValue).optional(),
          tags: z.array(keyValue).optional(),
        }),
      },
      async ({ input }) => {
        const model = await models.create({
          experimentId: input.experiment_id ?? "",
          name: input.name,
          modelType: input.model_type,
          sourceRunId: input.source_run_id,
          params: input.params ?? [],
          tags: input.tags ?? [],
        });
        return { model: loggedModelJson(model) };
      },
    );

    route(
      app,
      registry,
      {
        methods: ["POST"],
        url: "/logged-models/search",
        summary: "Search logged models by metrics, params, tags and attributes",
        tag,
        input: z.object({
          experiment_ids: repeated(str),
          filter: z.string().optional(),
          datasets: z.array(z.object({ dataset_name: z.string().min(1), dataset_digest: z.string().optional() })).optional(),
          max_results: int64.optional(),
          order_by: z
            .array(z.object({ field_name: z.string().min(1), ascending: bool.optional(), dataset_name: z.string().optional(), dataset_digest: z.string().optional() }))
            .optional(),
          page_token: z.string().optional(),
        }),
      },
      async ({ input }) => {
        const res = await models.search({
          experimentIds: input.experiment_ids,
          filter: input.filter,
          datasets: (input.datasets ?? []).map((d) => ({ name: d.dataset_name, digest: d.dataset_digest })),
          orderBy: (input.order_by ?? []).map((o) => ({
            field: o.field_name,
            ascending: o.ascending ?? true,
            ...(o.dataset_name !== undefined && o.dataset_name !== "" ? { dataset: { name: o.dataset_name, digest: o.dataset_digest } } : {}),
          })),
          maxResults: input.max_results,
          pageToken: input.page_token === "" ? undefined : input.page_token,
        });
        return { models: res.models.map(loggedModelJson), ...(res.nextPageToken !== undefined ? { next_page_token: res.nextPageToken } : {}) };
      },
    );

    route(
      app,
      registry,
      { methods: ["GET"], url: "/logged-models/:model_id", summary: "Get a logged model", tag, input: z.object({ ...modelId, allow_deleted: bool.optional() }) },
      async ({ input }) => ({ model: loggedModelJson(await models.get(input.model_id, input.allow_deleted ?? false)) }),
    );

    route(
      app,
      registry,
      {
        methods: ["PATCH"],
        url: "/logged-models/:model_id",
        summary: "Finalize a logged model: LOGGED_MODEL_READY once its files are uploaded, or LOGGED_MODEL_UPLOAD_FAILED",
        tag,
        input: z.object({ ...modelId, status }),
      },
      async ({ input }) => ({ model: loggedModelJson(await models.finalize(input.model_id, input.status)) }),
    );

    route(app, registry, { methods: ["DELETE"], url: "/logged-models/:model_id", summary: "Delete a logged model", tag, input: z.object(modelId) }, async ({ input }) => {
      await models.delete(input.model_id);
      return {};
    });

    route(
      app,
      registry,
      { methods: ["PATCH"], url: "/logged-models/:model_id/tags", summary: "Set tags on a logged model", tag, input: z.object({ ...modelId, tags: z.array(keyValue) }) },
      async ({ input }) => {
        await models.setTags(input.model_id, input.tags);
        return {};
      },
    );

    // MLflow's client puts the key in the path as it is, so a key may hold '/'.
    route(
      app,
      registry,
      { methods: ["DELETE"], url: "/logged-models/:model_id/tags/*", summary: "Delete a tag from a logged model", tag, input: z.object({ ...modelId, "*": z.string().min(1) }) },
      async ({ input }) => {
        await models.deleteTag(input.model_id, input["*"]);
        return {};
      },
    );

    route(
      app,
      registry,
      { methods: ["POST"], url: "/logged-models/:model_id/params", summary: "Log params on a logged model (immutable once logged)", tag, input: z.object({ ...modelId, params: z.array(keyValue) }) },
      async ({ input }) => {
        await models.logParams(input.model_id, input.params);
        return {};
      },
    );

    route(
      app,
      registry,
      {
        methods: ["GET"],
        url: "/logged-models/:model_id/artifacts/directories",
        summary: "List a logged model's artifacts under a directory",
        tag,
        input: z.object({ ...modelId, artifact_directory_path: z.string().optional(), page_token: z.string().optional() }),
      },
      async ({ input }) => {
        const res = await models.listArtifacts(input.model_id, input.artifact_directory_path);
        return { root_uri: res.rootUri, files: res.files.map(fileInfoJson) };
      },
    );

    route(
      app,
      registry,
      {
        methods: ["GET"],
        url: "/logged-models/:model_id/artifacts/files",
        summary: "Download one of a logged model's artifacts (streamed)",
        tag,
        input: z.object({ ...modelId, artifact_file_path: z.string().min(1) }),
      },
      async ({ input, reply }) => sendArtifact(reply, artifacts, await models.artifactKey(input.model_id, input.artifact_file_path)),
    );
  };
}
