/**
 * Monitors over HTTP: `POST/GET /api/v1/monitors`, `GET/DELETE /api/v1/monitors/<name>`,
 * `POST /api/v1/monitors/<name>/run`, `GET /api/v1/monitors/<name>/history`, and
 * `POST /api/v1/monitoring/report` for a one-off report over a model's inference log.
 * Times are ISO-8601 or epoch milliseconds; durations are a number and a unit (30m, 1h, 7d).
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { MAX_RUN_WINDOWS, type MonitorService } from "../../monitoring/monitor-service.js";
import { monitorSpecSchema, referenceSchema } from "../../monitoring/monitor-spec.js";
import { parseDuration } from "../../monitoring/window.js";
import { route, type ApiRegistry } from "../route.js";

const TIME_RULE = "must be an ISO-8601 time (e.g. 2024-05-01T10:00:00Z) or epoch milliseconds";
const MAX_TIME = Date.parse("9999-12-31T23:59:59Z");

const time = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const t = typeof v === "number" ? v : /^\d+$/.test(v.trim()) ? Number(v) : Date.parse(v);
  if (!(Number.isFinite(t) && t >= 0 && t <= MAX_TIME)) {
    ctx.addIssue({ code: "custom", message: TIME_RULE });
    return z.NEVER;
  }
  return t;
});

const duration = (field: string) =>
  z.string().transform((v, ctx) => {
    try {
      return parseDuration(v, field);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message.replace(/^Invalid value for '[^']*': /, "") });
      return z.NEVER;
    }
  });

const nameParam = z.object({ name: z.string().min(1).max(256) });

const runInput = nameParam.extend({
  until: time.optional(),
  windows: z.number().int().min(1).max(MAX_RUN_WINDOWS).optional(),
});

const historyInput = nameParam.extend({
  since: time.optional(),
  until: time.optional(),
  check: z.string().max(32).optional(),
  metric: z.string().max(128).optional(),
  series: z.string().max(512).optional(),
  limit: z.coerce.number().int().min(1).max(100_000).optional(),
  runs: z.coerce.number().int().min(1).max(1000).optional(),
});

const reportInput = z.strictObject({
  model: z.string().min(1).max(1024),
  window: duration("window"),
  step: duration("step").optional(),
  until: time.optional(),
  /** Take the reference columns and check options of this monitor. */
  monitor: z.string().min(1).max(256).optional(),
  reference: referenceSchema.optional(),
});

export function monitorsPlugin(service: MonitorService, registry: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    const tag = "Monitoring";
    route(app, registry, { methods: ["POST"], url: "/monitors", summary: "Create a monitor (model, window, schedule, checks, thresholds, alerts)", tag, input: monitorSpecSchema }, async ({ input }) => ({
      monitor: await service.create(input),
    }));
    route(app, registry, { methods: ["GET"], url: "/monitors", summary: "List monitors with their last run status", tag }, async () => ({ monitors: await service.list() }));
    route(app, registry, { methods: ["GET"], url: "/monitors/:name", summary: "A monitor's definition and schedule", tag, input: nameParam }, async ({ input }) => ({
      monitor: await service.get(input.name),
    }));
    route(app, registry, { methods: ["DELETE"], url: "/monitors/:name", summary: "Delete a monitor with its runs, series and events", tag, input: nameParam }, async ({ input }) => {
      await service.delete(input.name);
      return {};
    });
    route(
      app,
      registry,
      { methods: ["POST"], url: "/monitors/:name/run", summary: "Run a monitor now over its last complete window (or `windows` windows ending at `until`)", tag, input: runInput },
      async ({ input }) => ({ run: await service.run(input.name, { until: input.until, windows: input.windows, trigger: "request" }) }),
    );
    route(
      app,
      registry,
      { methods: ["GET"], url: "/monitors/:name/history", summary: "A monitor's runs, time series per check and metric, and alert events", tag, input: historyInput },
      async ({ input }) => service.history(input.name, input),
    );
    route(
      app,
      registry,
      { methods: ["POST"], url: "/monitoring/report", summary: "A monitoring report for a model over a span of its inference log (binned summaries only)", tag, input: reportInput },
      async ({ input }) => {
        const monitor = input.monitor === undefined ? undefined : (await service.get(input.monitor)).spec;
        return {
          report: await service.report({
            model: input.model,
            window: input.window,
            step: input.step,
            until: input.until,
            monitor,
            reference: input.reference,
          }),
        };
      },
    );
  };
}
