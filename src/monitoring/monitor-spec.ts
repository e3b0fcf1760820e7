/**
 * A monitor's definition, validated once when it is created: which model (a name — its latest version —, `name@alias`,
 * `name/<version>`, `name/<stage>` or a `models:/` URI), the window each run examines, how often
 * the server runs it, where its reference comes from, which checks run with which thresholds,
 * where alerts go, and which pipeline a firing monitor starts.
 *
 * ```json
 * { "name": "churn-daily", "model": "churn@champion", "window": "1h", "schedule": "1h",
 *   "reference": { "target": "churned", "prediction": "prediction", "probability": "proba" },
 *   "checks": { "drift": {}, "quality": { "maxMissingIncrease": 0.1 },
 *               "performance": { "margin": 0.03 }, "cbpe": {} },
 *   "alerts": { "webhooks": [{ "url": "https://hooks.example.com/flywheel" }] },
 *   "pipeline": "retrain-churn" }
 * ```
 */
import { z } from "zod";
import { FlywheelError } from "../core/errors.js";
import { parseModelRef, type ModelRef } from "../registry/model-uri.js";
import { cbpeOptionsSchema } from "./cbpe.js";
import { driftOptionsSchema } from "./column-mapping.js";
import { performanceOptionsSchema } from "./performance.js";
import { qualityOptionsSchema } from "./quality.js";
import { parseDuration } from "./window.js";

export const MONITOR_NAME_RULE = "1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit";
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const MAX_WEBHOOKS = 10;

const duration = (field: string) =>
  z.string().superRefine((v, ctx) => {
    try {
      parseDuration(v, field);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message.replace(/^Invalid value for '[^']*': /, "") });
    }
  });

export const driftCheckSchema = driftOptionsSchema.extend({
  /** Fail on dataset drift (default) or on any drifted column. */
  failOn: z.enum(["dataset", "column"]).optional(),
});

export const referenceSchema = z
  .strictObject({
    /** A Parquet or CSV file (path, file:// URI or mlflow-artifacts:/ URI); default: the version's training dataset. */
    uri: z.string().min(1).max(4096).optional(),
    /** The label column of the reference (left out of drift; with predictions it gives the performance baseline). */
    target: z.string().min(1).optional(),
    /** The reference's predicted-label (or value) column, compared with the log's `prediction`. */
    prediction: z.string().min(1).optional(),
    /** The reference's positive-class probability column (binary classifiers), for CBPE and score drift. */
    probability: z.string().min(1).optional(),
    /**
     * Score the reference with the monitored version itself (as `flywheel predict` does) for its
     * predictions and, for a binary classifier, its positive-class probability: a training set
     * has no model outputs, and the baseline and CBPE need them.
     */
    score: z.boolean().optional(),
    positiveClass: z.union([z.string(), z.number(), z.boolean()]).optional(),
    /** Reference columns that are not model inputs (ids, timestamps …). */
    ignore: z.array(z.string()).optional(),
    categoricalFeatures: z.array(z.string()).optional(),
  })
  .refine((r) => r.score !== true || (r.prediction === undefined && r.probability === undefined), {
    message: "score computes the prediction and probability columns; do not name them as well",
    path: ["score"],
  });

export const monitorSpecSchema = z.strictObject({
  name: z.string().regex(NAME, MONITOR_NAME_RULE),
  model: z
    .string()
    .min(1)
    .max(1024)
    .superRefine((v, ctx) => {
      try {
        monitorModelRef(v);
      } catch (e) {
        ctx.addIssue({ code: "custom", message: (e as Error).message });
      }
    }),
  description: z.string().max(4096).optional(),
  window: duration("window"),
  /** How often the server runs the monitor (an interval such as 1h); without it, runs happen on request. */
  schedule: duration("schedule").optional(),
  /** Only these features (default: the package's feature list, else every reference column not named elsewhere). */
  columns: z.array(z.string().min(1)).min(1).optional(),
  /** Include rows of every version in a window, not only the resolved one. */
  allVersions: z.boolean().optional(),
  reference: referenceSchema.optional(),
  checks: z
    .strictObject({
      drift: driftCheckSchema.optional(),
      quality: qualityOptionsSchema.optional(),
      performance: performanceOptionsSchema.optional(),
      cbpe: cbpeOptionsSchema.optional(),
    })
    .refine((c) => Object.values(c).some((v) => v !== undefined), { message: "name at least one check: drift, quality, performance or cbpe" }),
  alerts: z
    .strictObject({
      webhooks: z
        .array(
          z.strictObject({
            url: z.url({ protocol: /^https?$/, message: "must be an http(s) URL" }),
            headers: z.record(z.string(), z.string()).optional(),
          }),
        )
        .max(MAX_WEBHOOKS)
        .optional(),
      /** Attempts per webhook, the first included (default 4). */
      attempts: z.number().int().min(1).max(10).optional(),
    })
    .optional(),
  /** A pipeline to start when the monitor fires (recorded as a trigger event until a pipeline runner exists). */
  pipeline: z.string().min(1).max(256).optional(),
});

export type MonitorSpec = z.infer<typeof monitorSpecSchema>;

/** The model a monitor names: a reference as the registry reads it, a bare name meaning its latest version. */
export function monitorModelRef(model: string): ModelRef {
  return parseModelRef(!model.startsWith("models:/") && !model.includes("@") && !model.includes("/") ? `${model}/latest` : model);
}
export type CheckName = "drift" | "quality" | "performance" | "cbpe";
export const CHECK_NAMES: readonly CheckName[] = ["drift", "quality", "performance", "cbpe"];

function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === "number" ? `[${p}]` : String(p))).join(".").replace(/\.\[/g, "[") || "monitor";
}

/** Validates a monitor definition; the first problem is a 400 naming the field and the rule. */
export function parseMonitorSpec(raw: unknown): MonitorSpec {
  const res = monitorSpecSchema.safeParse(raw ?? {});
  if (res.success) return res.data;
  const issue = res.error.issues[0];
  const field = fieldPath(issue?.path ?? []);
  let rule = issue?.message ?? "invalid";
  if (issue?.code === "invalid_type" && /received undefined/.test(rule)) rule = "missing value for required field";
  throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid value for '${field}': ${rule}`, { details: { field } });
}

export function windowMs(spec: MonitorSpec): number {
  return parseDuration(spec.window, "window");
}

export function scheduleMs(spec: MonitorSpec): number | undefined {
  return spec.schedule === undefined ? undefined : parseDuration(spec.schedule, "schedule");
}
