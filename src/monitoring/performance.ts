/**
 * Realized performance of a window from its labelled rows (labels joined to the inference log by
 * request id), and concept drift: a metric worse than its reference by more than a margin.
 *
 * Classification (labels compared as text, so 1, "1" and 1.0 agree): accuracy over every class;
 * precision, recall and F1 of the positive class for a binary model, macro-averaged over the
 * classes seen in labels and predictions otherwise (scikit-learn's `average="macro"`); ROC AUC
 * and log loss from the logged probabilities — of the positive class for a binary model, one
 * class against the rest macro-averaged (and rows renormalised, then clipped) for more classes.
 * Regression: MAE, RMSE, MAPE and R² as scikit-learn defines them. A metric that is undefined for
 * the window (one class only, no probabilities, no rows) is left out, never reported as 0.
 *
 * The positive class of a binary model is `positiveClass` when given, else the second of the
 * logged probability classes (the model's own order, scikit-learn's `classes_[1]`), else the
 * larger of the two labels seen.
 */
import { z } from "zod";
import { LOG_LOSS_EPS, logLoss, rocAuc } from "../stats/classification.js";
import { meanAbsoluteError, meanAbsolutePercentageError, r2Score, rootMeanSquaredError } from "../stats/regression.js";

export const CLASSIFICATION_METRICS = ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"] as const;
export const REGRESSION_METRICS = ["mae", "rmse", "mape", "r2"] as const;
export const PERFORMANCE_METRICS = [...CLASSIFICATION_METRICS, ...REGRESSION_METRICS] as const;
export type PerformanceMetric = (typeof PERFORMANCE_METRICS)[number];

/** Metrics where a larger value is worse. */
const LOWER_IS_BETTER: ReadonlySet<PerformanceMetric> = new Set(["log_loss", "mae", "rmse", "mape"]);

export function lowerIsBetter(m: PerformanceMetric): boolean {
  return LOWER_IS_BETTER.has(m);
}

const metricName = z.enum(PERFORMANCE_METRICS);

export const performanceOptionsSchema = z.strictObject({
  task: z.enum(["classification", "regression"]).optional(),
  positiveClass: z.union([z.string(), z.number(), z.boolean()]).optional(),
  /** Metrics judged for concept drift (default: all of the task's that have a baseline). */
  metrics: z.array(metricName).min(1).optional(),
  /** How much worse than the baseline a metric may get (absolute; default 0.05). */
  margin: z.number().min(0).optional(),
  margins: z.partialRecord(metricName, z.number().min(0)).optional(),
  /** Reference values; by default computed from the reference data when it has targets and predictions. */
  baseline: z.partialRecord(metricName, z.number().finite()).optional(),
  /** Fewest labelled rows a window needs before its metrics are judged (default 30). */
  minLabelled: z.number().int().min(1).optional(),
  /** Earlier windows computed again on every run, so labels that arrive late update them (default 24). */
  backfillWindows: z.number().int().min(0).max(1000).optional(),
});

export type PerformanceOptions = z.infer<typeof performanceOptionsSchema>;
export type Metrics = Partial<Record<PerformanceMetric, number>>;

/** Labelled rows of a classifier: label and prediction as text; probabilities per class, when logged. */
export interface ClassificationRows {
  readonly labels: readonly string[];
  readonly predictions: readonly string[];
  /** Class names in the model's order, each with one probability per row (NaN when not logged). */
  readonly probabilities?: { readonly classes: readonly string[]; readonly values: readonly Float64Array[] } | undefined;
}

export interface ClassificationResult {
  readonly metrics: Metrics;
  readonly labelled: number;
  readonly classes: string[];
  /** The positive class, for a binary model. */
  readonly positiveClass?: string;
}

function numericAware(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (a.trim() !== "" && b.trim() !== "" && Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The positive class of a binary problem, or undefined when there are more than two classes. */
export function positiveClassOf(classes: readonly string[], probabilityClasses: readonly string[] | undefined, positive: string | undefined): string | undefined {
  if (positive !== undefined) return positive;
  if (probabilityClasses !== undefined && probabilityClasses.length === 2) return probabilityClasses[1];
  if (classes.length <= 2) return [...classes].sort(numericAware).at(-1);
  return undefined;
}

function binaryCounts(labels: readonly string[], predictions: readonly string[], positive: string): { tp: number; fp: number; fn: number } {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i] === positive;
    const p = predictions[i] === positive;
    if (t && p) tp++;
    else if (p) fp++;
    else if (t) fn++;
  }
  return { tp, fp, fn };
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);

/** Classification metrics of labelled rows; rows with a missing label must be left out beforehand. */
export function classificationMetrics(rows: ClassificationRows, positiveClass?: string | number | boolean): ClassificationResult {
  const n = rows.labels.length;
  if (rows.predictions.length !== n) throw new RangeError(`classificationMetrics: ${n} labels but ${rows.predictions.length} predictions`);
  const probs = rows.probabilities;
  const seen = new Set<string>([...rows.labels, ...rows.predictions]);
  for (const c of probs?.classes ?? []) seen.add(c);
  const classes = [...seen].sort(numericAware);
  const metrics: Metrics = {};
  if (n === 0) return { metrics, labelled: 0, classes };
  let correct = 0;
  for (let i = 0; i < n; i++) if (rows.labels[i] === rows.predictions[i]) correct++;
  metrics.accuracy = correct / n;
  const positive = positiveClassOf(classes, probs?.classes, positiveClass === undefined ? undefined : String(positiveClass));
  if (positive !== undefined) {
    const { tp, fp, fn } = binaryCounts(rows.labels, rows.predictions, positive);
    metrics.precision = ratio(tp, tp + fp);
    metrics.recall = ratio(tp, tp + fn);
    metrics.f1 = ratio(2 * tp, 2 * tp + fp + fn);
    const k = probs?.classes.indexOf(positive) ?? -1;
    if (probs !== undefined && k >= 0) binaryProbabilityMetrics(rows.labels, probs.values[k] as Float64Array, positive, metrics);
  } else {
    const present = [...new Set([...rows.labels, ...rows.predictions])];
    let p = 0;
    let r = 0;
    let f = 0;
    for (const c of present) {
      const { tp, fp, fn } = binaryCounts(rows.labels, rows.predictions, c);
      p += ratio(tp, tp + fp);
      r += ratio(tp, tp + fn);
      f += ratio(2 * tp, 2 * tp + fp + fn);
    }
    metrics.precision = p / present.length;
    metrics.recall = r / present.length;
    metrics.f1 = f / present.length;
    if (probs !== undefined) multiclassProbabilityMetrics(rows.labels, probs, metrics);
  }
  return { metrics, labelled: n, classes, ...(positive === undefined ? {} : { positiveClass: positive }) };
}

function binaryProbabilityMetrics(labels: readonly string[], p: Float64Array, positive: string, out: Metrics): void {
  const y: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const v = p[i] as number;
    if (!(v >= 0 && v <= 1)) continue;
    y.push(labels[i] === positive ? 1 : 0);
    s.push(v);
  }
  if (y.length === 0) return;
  out.log_loss = logLoss(y, s);
  const pos = y.reduce((a, b) => a + b, 0);
  if (pos > 0 && pos < y.length) out.roc_auc = rocAuc(y, s);
}

function multiclassProbabilityMetrics(labels: readonly string[], probs: NonNullable<ClassificationRows["probabilities"]>, out: Metrics): void {
  const k = probs.classes.length;
  const usable: number[] = [];
  let loss = 0;
  for (let i = 0; i < labels.length; i++) {
    const c = probs.classes.indexOf(labels[i] as string);
    if (c < 0) continue;
    let sum = 0;
    let ok = true;
    for (let j = 0; j < k; j++) {
      const v = (probs.values[j] as Float64Array)[i] as number;
      if (!(v >= 0)) ok = false;
      sum += v;
    }
    if (!ok || !(sum > 0)) continue;
    usable.push(i);
    const pc = ((probs.values[c] as Float64Array)[i] as number) / sum;
    loss -= Math.log(Math.min(Math.max(pc, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS));
  }
  if (usable.length === 0) return;
  out.log_loss = loss / usable.length;
  let aucSum = 0;
  let aucCount = 0;
  for (let j = 0; j < k; j++) {
    const cls = probs.classes[j];
    const y = usable.map((i) => (labels[i] === cls ? 1 : 0));
    const pos = y.reduce((a: number, b: number) => a + b, 0);
    if (pos === 0 || pos === y.length) continue;
    aucSum += rocAuc(y, usable.map((i) => (probs.values[j] as Float64Array)[i] as number));
    aucCount++;
  }
  if (aucCount === k) out.roc_auc = aucSum / k;
}

/** Regression metrics of labelled rows (pairs with a non-finite value are left out). */
export function regressionMetrics(labels: ArrayLike<number>, predictions: ArrayLike<number>): { metrics: Metrics; labelled: number } {
  const y: number[] = [];
  const p: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const a = labels[i] as number;
    const b = predictions[i] as number;
    if (Number.isFinite(a) && Number.isFinite(b)) {
      y.push(a);
      p.push(b);
    }
  }
  if (y.length === 0) return { metrics: {}, labelled: 0 };
  return {
    metrics: { mae: meanAbsoluteError(y, p), rmse: rootMeanSquaredError(y, p), mape: meanAbsolutePercentageError(y, p), r2: r2Score(y, p) },
    labelled: y.length,
  };
}

export interface MetricVerdict {
  readonly metric: PerformanceMetric;
  readonly value: number;
  readonly baseline: number;
  readonly margin: number;
  /** value − baseline. */
  readonly change: number;
  /** Worse than the baseline by more than the margin. */
  readonly drifted: boolean;
}

/** Concept drift per metric: each judged metric with a value and a baseline, compared with its margin. */
export function judgeMetrics(metrics: Metrics, baseline: Metrics, options: PerformanceOptions): MetricVerdict[] {
  const judged = options.metrics ?? (Object.keys(metrics) as PerformanceMetric[]);
  const out: MetricVerdict[] = [];
  for (const m of judged) {
    const value = metrics[m];
    const base = baseline[m];
    if (value === undefined || base === undefined || !Number.isFinite(value) || !Number.isFinite(base)) continue;
    const margin = options.margins?.[m] ?? options.margin ?? 0.05;
    const change = value - base;
    out.push({ metric: m, value, baseline: base, margin, change, drifted: lowerIsBetter(m) ? change > margin : -change > margin });
  }
  return out;
}
