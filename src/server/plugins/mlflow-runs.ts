/** MLflow REST API 2.0: runs, params, metrics, tags, log-batch, log-inputs, search, metric history, artifact listing. */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { FlywheelError } from "../../core/errors.js";
import type { DatasetInput, Metric } from "../../storage/metadata/metadata-store.js";
import type { LoggedModelService, ModelMetricInput } from "../../tracking/logged-models.js";
import type { TrackingService } from "../../tracking/tracking-service.js";
import { double, int64, keyValue, repeated, runStatus, str, viewType } from "../mlflow/fields.js";
import { fileInfoJson, metricJson, runInfoJson, runJson } from "../mlflow/wire.js";
import { route, type ApiRegistry } from "../route.js";

/** Old clients send `run_uuid`, new ones `run_id`; some send both. */
const runRef = { run_id: z.string().optional(), run_uuid: z.string().optional() };

function runIdOf(input: { run_id?: string | undefined; run_uuid?: string | undefined }): string {
  const id = input.run_id !== undefined && input.run_id !== "" ? input.run_id : input.run_uuid;
  if (id === undefined || id === "") {
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", "Invalid value for 'run_id': missing value for required parameter");
  }
  return id;
}

/** MLflow 3 metrics may name the logged model and the dataset they were measured for. */
const metricInput = z.object({
  key: z.string(),
  value: double,
  timestamp: int64,
  step: int64.optional(),
  model_id: z.string().optional(),
  dataset_name: z.string().optional(),
  dataset_digest: z.string().optional(),
});
const toMetric = (m: z.infer<typeof metricInput>): Metric => ({ key: m.key, value: m.value, timestamp: m.timestamp, step: m.step ?? 0 });
/** The metrics of a request that were logged against a logged model. */
const modelMetrics = (metrics: z.infer<typeof metricInput>[]): ModelMetricInput[] =>
  metrics
    .filter((m) => m.model_id !== undefined && m.model_id !== "")
    .map((m) => ({ ...toMetric(m), modelId: m.model_id as string, datasetName: m.dataset_name ?? null, datasetDigest: m.dataset_digest ?? null }));

/** MLflow's DatasetInput: a Dataset with its four required strings, and the input's tags. */
const datasetInput = z.object({
  tags: z.array(z.object({ key: z.string(), value: z.string() })).nullish(),
  dataset: z.object({
    name: z.string(),
    digest: z.string(),
    source_type: z.string(),
    source: z.string(),
    schema: z.string().nullish(),
    profile: z.string().nullish(),
  }),
});
const toDatasetInput = (i: z.infer<typeof datasetInput>): DatasetInput => ({
  dataset: {
    name: i.dataset.name,
    digest: i.dataset.digest,
    sourceType: i.dataset.source_type,
    source: i.dataset.source,
    schema: i.dataset.schema ?? null,
    profile: i.dataset.profile ?? null,
  },
  tags: (i.tags ?? []).map((t) => ({ key: t.key, value: t.value })),
});

export function mlflowRunsPlugin(tracking: TrackingService, loggedModels: LoggedModelService, registry?: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const tag = "MLflow runs";

    /** Logs a request's metrics on the run, and on the logged models they name (checked first). */
    const logMetrics = async (runId: string, metrics: z.infer<typeof metricInput>[], params: { key: string; value: string }[] = [], tags: { key: string; value: string }[] = []) => {
      const forModels = modelMetrics(metrics);
      await loggedModels.checkMetricModels(forModels);
      await tracking.logBatch(runId, { metrics: metrics.map(toMetric), params, tags });
      await loggedModels.logMetrics(runId, forModels);
    };

    route(
      app,
      registry,
      {
        methods: ["POST"],
        url: "/runs/create",
        summary: "Create a run",
        tag,
        input: z.object({
          experiment_id: str.optional(),
          user_id: z.string().optional(),
          run_name: z.string().optional(),
          start_time: int64.optional(),
          tags: z.array(keyValue).optional(),
        }),
      },
      async ({ input }) => {
        const run = await tracking.createRun({
          ...(input.experiment_id !== undefined ? { experimentId: input.experiment_id } : {}),
          ...(input.user_id !== undefined ? { userId: input.user_id } : {}),
          ...(input.run_name !== undefined ? { runName: input.run_name } : {}),
          ...(input.start_time !== undefined ? { startTime: input.start_time } : {}),
          tags: input.tags ?? [],
        });
        return { run: runJson(run) };
      },
    );

    route(app, registry, { methods: ["GET"], url: "/runs/get", summary: "Get a run with its latest metrics, params and tags", tag, input: z.object(runRef) }, async ({ input }) => ({
      run: runJson(await tracking.getRun(runIdOf(input))),
    }));

    route(
      app,
      registry,
      {
        methods: ["POST"],
        url: "/runs/update",
        summary: "Update a run's status, end time or name",
        tag,
        input: z.object({ ...runRef, status: runStatus.optional(), end_time: int64.optional(), run_name: z.string().optional() }),
      },
      async ({ input }) => {
        const info = await tracking.updateRun(runIdOf(input), {
          ...(input.status !== undefined ? { status: input.status } : {}),
          ...(input.end_time !== undefined ? { endTime: input.end_time } : {}),
          ...(input.run_name !== undefined ? { runName: input.run_name } : {}),
        });
        return { run_info: runInfoJson(info) };
      },
    );

    route(app, registry, { methods: ["POST"], url: "/runs/delete", summary: "Delete a run", tag, input: z.object(runRef) }, async ({ input }) => {
      await tracking.deleteRun(runIdOf(input));
      return {};
    });

    route(app, registry, { methods: ["POST"], url: "/runs/restore", summary: "Restore a deleted run", tag, input: z.object(runRef) }, async ({ input }) => {
      await tracking.restoreRun(runIdOf(input));
      return {};
    });

    route(
      app,
      registry,
      { methods: ["POST"], url: "/runs/log-metric", summary: "Log one metric point", tag, input: z.object({ ...runRef, ...metricInput.shape }) },
      async ({ input }) => {
        await logMetrics(runIdOf(input), [input]);
        return {};
      },
    );

    route(
      app,
      registry,
      { methods: ["POST"], url: "/runs/log-parameter", summary: "Log a param (immutable once logged)", tag, input: z.object({ ...runRef, key: z.string(), value: str }) },
      async ({ input }) => {
        await tracking.logParam(runIdOf(input), { key: input.key, value: input.value });
        return {};
      },
    );

    route(
      app,
      registry,
      { methods: ["POST"], url: "/runs/set-tag", summary: "Set a tag on a run", tag, input: z.object({ ...runRef, key: z.string(), value: str }) },
      async ({ input }) => {
        await tracking.setTag(runIdOf(input), { key: input.key, value: input.value });
        return {};
      },
    );

    route(
      app,
      registry,
      { methods: ["POST"], url: "/runs/log-model", summary: "Record a logged model's MLmodel document on the run", tag, input: z.object({ ...runRef, model_json: z.string() }) },
      async ({ input }) => {
        await tracking.logModel(runIdOf(input), input.model_json);
        return {};
      },
    );

    route(app, registry, { methods: ["POST"], url: "/runs/delete-tag", summary: "Delete a tag from a run", tag, input: z.object({ ...runRef, key: z.string() }) }, async ({ input }) => {
      await tracking.deleteTag(runIdOf(input), input.key);
      return {};
    });

    route(
      app,
      registry,
      {
        methods: ["POST"],
        url: "/runs/log-batch",
        summary: "Log metrics, params and tags in one atomic request",
        tag,
        input: z.object({
          ...runRef,
          metrics: z.array(metricInput).optional(),
          params: z.array(keyValue).optional(),
          tags: z.array(keyValue).optional(),
        }),
      },
      async ({ input }) => {
        await logMetrics(runIdOf(input), input.metrics ?? [], input.params ?? [], input.tags ?? []);
        return {};
      },
    );

    route(
      app,
      registry,
      {
        methods: ["POST"],
        url: "/runs/log-inputs",
        summary: "Log datasets (stored once per experiment by name and digest) and logged models used by a run",
        tag,
        input: z.object({ ...runRef, datasets: z.array(datasetInput).nullish(), models: z.array(z.object({ model_id: z.string().min(1) })).nullish() }),
      },
      async ({ input }) => {
        const runId = runIdOf(input);
        const models = (input.models ?? []).map((m) => m.model_id);
        // Every model is checked before anything is written; then the datasets, then the links.
        const info = models.length > 0 ? await tracking.activeRunInfo(runId) : undefined;
        await loggedModels.checkModels(models);
        await tracking.logInputs(runId, (input.datasets ?? []).map(toDatasetInput));
        if (info !== undefined) await loggedModels.logInputs(info, models);
        return {};
      },
    );

    route(
      app,
      registry,
      {
        methods: ["POST"],
        url: "/runs/outputs",
        summary: "Record the logged models a run produced (MLflow 3)",
        tag,
        input: z.object({ ...runRef, models: z.array(z.object({ model_id: z.string().min(1), step: int64.optional() })) }),
      },
      async ({ input }) => {
        const info = await tracking.activeRunInfo(runIdOf(input));
        await loggedModels.logOutputs(
          info,
          input.models.map((m) => ({ modelId: m.model_id, step: m.step ?? 0 })),
        );
        return {};
      },
    );

    route(
      app,
      registry,
      {
        methods: ["POST"],
        url: "/runs/search",
        summary: "Search runs with MLflow's filter grammar",
        tag,
        input: z.object({
          experiment_ids: repeated(str).optional(),
          filter: z.string().optional(),
          run_view_type: viewType.optional(),
          max_results: int64.optional(),
          order_by: repeated(z.string()).optional(),
          page_token: z.string().optional(),
        }),
      },
      async ({ input }) => {
        const res = await tracking.searchRuns({
          experimentIds: input.experiment_ids ?? [],
          ...(input.filter !== undefined ? { filter: input.filter } : {}),
          ...(input.run_view_type !== undefined ? { viewType: input.run_view_type } : {}),
          ...(input.max_results !== undefined ? { maxResults: input.max_results } : {}),
          ...(input.order_by !== undefined ? { orderBy: input.order_by } : {}),
          ...(input.page_token !== undefined ? { pageToken: input.page_token } : {}),
        });
        return { runs: res.runs.map(runJson), ...(res.nextPageToken !== undefined ? { next_page_token: res.nextPageToken } : {}) };
      },
    );

    route(
      app,
      registry,
      {
        methods: ["GET"],
        url: "/metrics/get-history",
        summary: "All points of one metric of a run, by step",
        tag,
        input: z.object({ ...runRef, metric_key: z.string(), max_results: int64.optional(), page_token: z.string().optional() }),
      },
      async ({ input }) => {
        const res = await tracking.getMetricHistory(runIdOf(input), input.metric_key, input.max_results, input.page_token);
        return { metrics: res.metrics.map(metricJson), ...(res.nextPageToken !== undefined ? { next_page_token: res.nextPageToken } : {}) };
      },
    );

    route(
      app,
      registry,
      {
        methods: ["GET"],
        url: "/artifacts/list",
        summary: "List a run's artifacts under a path",
        tag,
        input: z.object({ ...runRef, path: z.string().optional(), page_token: z.string().optional() }),
      },
      async ({ input }) => {
        const res = await tracking.listRunArtifacts(runIdOf(input), input.path);
        return { root_uri: res.rootUri, files: res.files.map(fileInfoJson) };
      },
    );
  };
}
