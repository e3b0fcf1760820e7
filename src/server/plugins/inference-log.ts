/**
 * Ground truth and inspection for the inference log: `POST /api/v1/labels` stores labels by
 * request id (durably, before it answers; a later label for the same request and row replaces an
 * earlier one) and `GET /api/v1/inference-log` shows a model's logged rows with their labels.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { InferenceLog } from "../../serving/inference-log/inference-log.js";
import { route, type ApiRegistry } from "../route.js";

/** Most labels one request may carry. */
export const MAX_LABELS = 10_000;
/** Most rows the inspection endpoint answers with. */
export const MAX_LOG_RECORDS = 10_000;

const TIME_RULE = "must be an ISO-8601 time (e.g. 2024-05-01T10:00:00Z) or epoch milliseconds";
const MAX_TIME = Date.parse("9999-12-31T23:59:59Z");

/** An ISO-8601 time or epoch milliseconds (a number, or digits in a query string), as epoch ms. */
function parseTime(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 && v <= MAX_TIME ? v : undefined;
  if (typeof v !== "string" || v.trim() === "") return undefined;
  const t = /^\d+$/.test(v.trim()) ? Number(v) : Date.parse(v);
  return Number.isFinite(t) && t >= 0 && t <= MAX_TIME ? t : undefined;
}

const time = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const t = parseTime(v);
  if (t === undefined) {
    ctx.addIssue({ code: "custom", message: TIME_RULE });
    return z.NEVER;
  }
  return t;
});

const labelsInput = z.object({
  labels: z
    .array(
      z.object({
        request_id: z.string().min(1).max(256),
        row: z.number().int().min(0).max(1_000_000).optional(),
        label: z.union([z.string().max(4096), z.number().finite(), z.boolean()], { message: "must be a string, a finite number or a boolean" }),
        timestamp: time.optional(),
      }),
    )
    .min(1)
    .max(MAX_LABELS),
});

const logQuery = z.object({
  model: z.string().min(1).max(1024),
  version: z.string().min(1).optional(),
  since: time.optional(),
  until: time.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LOG_RECORDS).default(100),
});

export function inferenceLogPlugin(log: InferenceLog, registry: ApiRegistry) {
  return async (app: FastifyInstance): Promise<void> => {
    route(
      app,
      registry,
      {
        methods: ["POST"],
        url: "/labels",
        summary: "Store ground-truth labels by request id (and row); a later label for the same request and row replaces an earlier one",
        tag: "Monitoring",
        input: labelsInput,
      },
      async ({ input }) => {
        await log.addLabels(input.labels);
        return { accepted: input.labels.length };
      },
    );
    route(
      app,
      registry,
      {
        methods: ["GET"],
        url: "/inference-log",
        summary: "A model's logged predictions (newest first) with their latest labels",
        tag: "Monitoring",
        input: logQuery,
      },
      async ({ input }) => {
        const records = await log.reader.records({
          model: input.model,
          version: input.version,
          since: input.since === undefined ? undefined : new Date(input.since),
          until: input.until === undefined ? undefined : new Date(input.until),
          limit: input.limit,
        });
        return { records };
      },
    );
  };
}
