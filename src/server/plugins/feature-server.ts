/**
 * The feature server: Feast's HTTP endpoints with Feast's JSON (`/get-online-features`, `/push`,
 * `/write-to-online-store`, `/materialize`, `/materialize-incremental`), and Flywheel's own
 * definitions API under `/api/v1/features` (registry, plan, apply, history, materializations).
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { FeatureStore } from "../../features/feature-store.js";
import { PUSH_TARGETS } from "../../features/push.js";
import { parseTimestamp } from "../../features/values.js";
import { isFlywheelError, toFlywheelError } from "../../core/errors.js";
import type { MaterializeProgress } from "../../features/materialize.js";
import { FeatureStoreError } from "../../features/errors.js";
import { requesterOf } from "../identity.js";
import { route, type ApiRegistry } from "../route.js";

const columns = z.record(z.string(), z.array(z.unknown()));

const onlineInput = z.object({
  features: z.array(z.string()).optional(),
  feature_service: z.string().min(1).optional(),
  entities: columns,
  full_feature_names: z.boolean().optional(),
});

const pushInput = z.object({
  push_source_name: z.string().min(1),
  df: columns,
  to: z.enum(PUSH_TARGETS as [string, ...string[]]).optional(),
  allow_registry_cache: z.boolean().optional(),
});

const writeInput = z.object({
  feature_view_name: z.string().min(1),
  df: columns,
  allow_registry_cache: z.boolean().optional(),
});

const timestamp = z.union([z.string().min(1), z.number()]);
const materializeInput = z.object({
  start_ts: timestamp,
  end_ts: timestamp,
  feature_views: z.array(z.string()).optional(),
});
const incrementalInput = z.object({
  end_ts: timestamp,
  feature_views: z.array(z.string()).optional(),
});

const definitionsInput = z.object({
  definitions: z.record(z.string(), z.unknown()),
  expected_version: z.number().int().min(0).optional(),
});

const ourMaterializeInput = z.object({
  start_ts: timestamp.optional(),
  end_ts: timestamp,
  feature_views: z.array(z.string()).optional(),
  incremental: z.boolean().optional(),
});

const limitInput = z.object({ limit: z.coerce.number().int().min(1).max(1000).optional() });
const viewInput = z.object({ view: z.string().min(1).optional() });

const materializationJson = (m: { view: string; startTs: number; endTs: number; rows: number }) => ({
  feature_view: m.view,
  start_ts: new Date(m.startTs).toISOString(),
  end_ts: new Date(m.endTs).toISOString(),
  rows: m.rows,
});

/** Feast's routes, mounted at the root. */
export function featureServerPlugin(store: FeatureStore, registry: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const tag = "Feature server (Feast)";
    route(app, registry, { methods: ["POST"], url: "/get-online-features", summary: "Online features for entity rows (Feast's JSON)", tag, input: onlineInput }, async ({ input }) => {
      return store.getOnlineFeatures({
        features: input.features,
        featureService: input.feature_service,
        entities: input.entities,
        fullFeatureNames: input.full_feature_names === true,
      });
    });
    route(app, registry, { methods: ["POST"], url: "/push", summary: "Push rows of a push source to the online store, the offline history, or both", tag, input: pushInput }, async ({ input }) => {
      const result = await store.push(input.push_source_name, input.df, (input.to ?? "online") as (typeof PUSH_TARGETS)[number]);
      return { rows: result.rows };
    });
    route(app, registry, { methods: ["POST"], url: "/write-to-online-store", summary: "Write rows of a feature view to the online store", tag, input: writeInput }, async ({ input }) => {
      return store.writeToOnlineStore(input.feature_view_name, input.df);
    });
    route(app, registry, { methods: ["POST"], url: "/materialize", summary: "Materialize [start_ts, end_ts) of the online views", tag, input: materializeInput }, async ({ input }) => {
      const done = await store.materialize(parseTimestamp(input.start_ts, "start_ts"), parseTimestamp(input.end_ts, "end_ts"), {
        ...(input.feature_views === undefined ? {} : { views: input.feature_views }),
      });
      return { materialized: done.map(materializationJson) };
    });
    route(app, registry, { methods: ["POST"], url: "/materialize-incremental", summary: "Materialize each online view from its last interval to end_ts", tag, input: incrementalInput }, async ({ input }) => {
      const done = await store.materializeIncremental(parseTimestamp(input.end_ts, "end_ts"), {
        ...(input.feature_views === undefined ? {} : { views: input.feature_views }),
      });
      return { materialized: done.map(materializationJson) };
    });
  };
}

/** Flywheel's definitions API, mounted under `/api/v1`. */
export function featureDefinitionsPlugin(store: FeatureStore, registry: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const tag = "Features";
    route(app, registry, { methods: ["GET"], url: "/features/registry", summary: "The applied feature definitions and their version", tag }, async () => {
      const { version, repo } = await store.current();
      return { project: store.project, version, definitions: repo };
    });
    route(app, registry, { methods: ["POST"], url: "/features/plan", summary: "What applying these definitions would change", tag, input: definitionsInput }, async ({ input }) => {
      const plan = await store.plan(FeatureStore.checkRepo(input.definitions));
      return { project: store.project, version: plan.version, changes: plan.changes };
    });
    route(app, registry, { methods: ["POST"], url: "/features/apply", summary: "Store these definitions as the next version", tag, input: definitionsInput }, async ({ input, req }) => {
      const repo = FeatureStore.checkRepo(input.definitions);
      const result = await store.apply(repo, requesterOf(req), input.expected_version);
      return { project: store.project, previous_version: result.version, version: result.applied, changes: result.changes };
    });
    route(
      app,
      registry,
      {
        methods: ["POST"],
        url: "/features/materialize",
        summary: "Materialize (or, with incremental, continue materializing) the online views; with Accept: application/x-ndjson, progress lines stream before the result",
        tag,
        input: ourMaterializeInput,
      },
      async ({ input, req, reply }) => {
        const endTs = parseTimestamp(input.end_ts, "end_ts");
        if (input.incremental !== true && input.start_ts === undefined) {
          throw new FeatureStoreError("start_ts", "'start_ts' is required unless 'incremental' is true");
        }
        const startTs = input.start_ts === undefined ? 0 : parseTimestamp(input.start_ts, "start_ts");
        const opts = (onProgress?: (p: MaterializeProgress) => void) => ({
          ...(input.feature_views === undefined ? {} : { views: input.feature_views }),
          ...(onProgress === undefined ? {} : { onProgress }),
        });
        const run = (onProgress?: (p: MaterializeProgress) => void) =>
          input.incremental === true ? store.materializeIncremental(endTs, opts(onProgress)) : store.materialize(startTs, endTs, opts(onProgress));
        if (!String(req.headers.accept ?? "").includes("application/x-ndjson")) {
          return { materialized: (await run()).map(materializationJson) };
        }
        reply.hijack();
        const out = reply.raw;
        out.writeHead(200, { "content-type": "application/x-ndjson" });
        const line = (v: unknown) => out.write(`${JSON.stringify(v)}\n`);
        let last = 0;
        try {
          const done = await run((p) => {
            const now = Date.now();
            if (p.done === 0 || p.done === p.total || now - last >= 200) {
              last = now;
              line({ progress: { feature_view: p.view, done: p.done, total: p.total } });
            }
          });
          line({ materialized: done.map(materializationJson) });
        } catch (e) {
          const err = toFlywheelError(e);
          if (!isFlywheelError(e)) req.log.error({ err: e }, "materialization failed");
          line({ error_code: err.code, message: err.message });
        }
        out.end();
        return undefined;
      },
    );
    route(app, registry, { methods: ["GET"], url: "/features/history", summary: "Applied versions, newest first, with their changes", tag, input: limitInput }, async ({ input }) => {
      const rows = await store.history(input.limit ?? 50);
      return { versions: rows.map((r) => ({ version: r.version, applied_by: r.appliedBy, applied_time: r.appliedTime, changes: r.changes })) };
    });
    route(app, registry, { methods: ["GET"], url: "/features/materializations", summary: "Recorded materialization intervals", tag, input: viewInput }, async ({ input }) => {
      const rows = await store.materializations(input.view);
      return { materializations: rows.map((m) => ({ ...materializationJson(m), created_time: m.createdTime })) };
    });
  };
}
