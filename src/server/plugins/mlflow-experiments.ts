/** MLflow REST API 2.0: experiments (create, get, search, update, delete, restore, tags, list). */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { FlywheelError } from "../../core/errors.js";
import type { TrackingService } from "../../tracking/tracking-service.js";
import { int64, keyValue, repeated, str, viewType } from "../mlflow/fields.js";
import { experimentJson } from "../mlflow/wire.js";
import { route, type ApiRegistry } from "../route.js";

const experimentId = z.object({ experiment_id: str });
const search = z.object({
  max_results: int64.optional(),
  page_token: z.string().optional(),
  filter: z.string().optional(),
  order_by: repeated(z.string()).optional(),
  view_type: viewType.optional(),
});

export function mlflowExperimentsPlugin(tracking: TrackingService, registry?: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const tag = "MLflow experiments";

    route(
      app,
      registry,
      {
        methods: ["POST"],
        url: "/experiments/create",
        summary: "Create an experiment",
        tag,
        input: z.object({ name: z.string(), artifact_location: z.string().optional(), tags: z.array(keyValue).optional() }),
      },
      async ({ input }) => ({
        experiment_id: await tracking.createExperiment(input.name, input.artifact_location, input.tags ?? []),
      }),
    );

    route(app, registry, { methods: ["GET"], url: "/experiments/get", summary: "Get an experiment by id", tag, input: experimentId }, async ({ input }) => ({
      experiment: experimentJson(await tracking.getExperiment(input.experiment_id)),
    }));

    route(
      app,
      registry,
      { methods: ["GET"], url: "/experiments/get-by-name", summary: "Get an experiment by name", tag, input: z.object({ experiment_name: z.string() }) },
      async ({ input }) => ({ experiment: experimentJson(await tracking.getExperimentByName(input.experiment_name)) }),
    );

    route(
      app,
      registry,
      { methods: ["GET", "POST"], url: "/experiments/search", summary: "Search experiments (filter on name and tags, order_by, paging)", tag, input: search },
      async ({ input }) => {
        const res = await tracking.searchExperiments({
          ...(input.filter !== undefined ? { filter: input.filter } : {}),
          ...(input.order_by !== undefined ? { orderBy: input.order_by } : {}),
          ...(input.max_results !== undefined ? { maxResults: input.max_results } : {}),
          ...(input.page_token !== undefined ? { pageToken: input.page_token } : {}),
          ...(input.view_type !== undefined ? { viewType: input.view_type } : {}),
        });
        return {
          experiments: res.experiments.map(experimentJson),
          ...(res.nextPageToken !== undefined ? { next_page_token: res.nextPageToken } : {}),
        };
      },
    );

    // The pre-2.0 listing that older clients still call.
    route(
      app,
      registry,
      {
        methods: ["GET"],
        url: "/experiments/list",
        summary: "List experiments (pre-2.0 API)",
        tag,
        input: z.object({ view_type: viewType.optional(), max_results: int64.optional(), page_token: z.string().optional() }),
      },
      async ({ input }) => {
        const res = await tracking.searchExperiments({
          viewType: input.view_type ?? "ACTIVE_ONLY",
          ...(input.max_results !== undefined ? { maxResults: input.max_results } : { maxResults: 50000 }),
          ...(input.page_token !== undefined ? { pageToken: input.page_token } : {}),
          orderBy: ["experiment_id ASC"],
        });
        return {
          experiments: res.experiments.map(experimentJson),
          ...(res.nextPageToken !== undefined ? { next_page_token: res.nextPageToken } : {}),
        };
      },
    );

    route(
      app,
      registry,
      { methods: ["POST"], url: "/experiments/update", summary: "Rename an experiment", tag, input: z.object({ experiment_id: str, new_name: z.string().optional() }) },
      async ({ input }) => {
        if (input.new_name === undefined) {
          throw new FlywheelError("FW_REQUEST_INVALID_FIELD", "Invalid value for 'new_name': missing value for required parameter");
        }
        await tracking.renameExperiment(input.experiment_id, input.new_name);
        return {};
      },
    );

    route(app, registry, { methods: ["POST"], url: "/experiments/delete", summary: "Delete an experiment and its runs", tag, input: experimentId }, async ({ input }) => {
      await tracking.deleteExperiment(input.experiment_id);
      return {};
    });

    route(app, registry, { methods: ["POST"], url: "/experiments/restore", summary: "Restore a deleted experiment and its runs", tag, input: experimentId }, async ({ input }) => {
      await tracking.restoreExperiment(input.experiment_id);
      return {};
    });

    const setTag = z.object({ experiment_id: str, key: z.string(), value: str });
    route(app, registry, { methods: ["POST"], url: "/experiments/set-experiment-tag", summary: "Set a tag on an experiment", tag, input: setTag }, async ({ input }) => {
      await tracking.setExperimentTag(input.experiment_id, { key: input.key, value: input.value });
      return {};
    });
    // The `mlflow` npm client (2.0.7) drops the slash before this path; answer it there too.
    route(app, undefined, { methods: ["POST"], url: "/experimentsset-experiment-tag", summary: "", tag, input: setTag }, async ({ input }) => {
      await tracking.setExperimentTag(input.experiment_id, { key: input.key, value: input.value });
      return {};
    });

    route(
      app,
      registry,
      { methods: ["POST"], url: "/experiments/delete-experiment-tag", summary: "Delete a tag from an experiment", tag, input: z.object({ experiment_id: str, key: z.string() }) },
      async ({ input }) => {
        await tracking.deleteExperimentTag(input.experiment_id, input.key);
        return {};
      },
    );
  };
}
