/**
 * Promotion gates: conditions in the run search grammar ("metrics.auc >= 0.9 and
 * params.model = 'gbm'") evaluated against the run that produced a model version.
 */
import type { Run } from "../storage/metadata/metadata-store.js";
import { DATASET_CONTEXT_TAG, type Comparison } from "../storage/metadata/search-types.js";
import { compareValue as compare } from "../tracking/compare-value.js";
import { parseFilter } from "../tracking/search-grammar.js";

export interface GateResult {
  gate: string;
  passed: boolean;
  /** What was found, for the refusal message ("metrics.auc is 0.87"). */
  detail: string;
}

/** Parses every gate now, so a policy with a gate that can never be evaluated is refused. */
export function parseGates(gates: string[]): Comparison[][] {
  return gates.map((g) => parseFilter(g, "run"));
}

const ATTRIBUTES: Record<string, (r: Run) => string | number | null> = {
  run_id: (r) => r.info.runId,
  run_name: (r) => r.info.runName,
  status: (r) => r.info.status,
  user_id: (r) => r.info.userId,
  start_time: (r) => r.info.startTime,
  end_time: (r) => r.info.endTime,
  experiment_id: (r) => Number(r.info.experimentId),
};

function lookup(c: Comparison, run: Run): { name: string; value: string | number | null | undefined } {
  switch (c.type) {
    case "metric":
      return { name: `metrics.${c.key}`, value: run.metrics.find((m) => m.key === c.key)?.value };
    case "param":
      return { name: `params.${c.key}`, value: run.params.find((p) => p.key === c.key)?.value };
    case "tag":
      return { name: `tags.${c.key}`, value: run.tags.find((t) => t.key === c.key)?.value };
    case "attribute":
      return { name: c.key, value: ATTRIBUTES[c.key]?.(run) };
    case "dataset":
      // Runs log several datasets: evaluateGate asks whether any of them compares (datasetValues).
      return { name: `datasets.${c.key}`, value: datasetValues(run, c.key)[0] };
  }
}

/** The run's datasets' names or digests, or its inputs' context tags (those that have one). */
function datasetValues(run: Run, key: string): string[] {
  if (key === "context") return run.inputs.flatMap((i) => i.tags.filter((t) => t.key === DATASET_CONTEXT_TAG).map((t) => t.value));
  return run.inputs.map((i) => (key === "digest" ? i.dataset.digest : i.dataset.name));
}

/** Evaluates one gate (all of its AND-ed comparisons) on a run. */
export function evaluateGate(gate: string, run: Run): GateResult {
  for (const c of parseFilter(gate, "run")) {
    if (c.type === "dataset") {
      // As the run search answers it: some logged dataset (or input context) compares.
      const values = datasetValues(run, c.key);
      if (!values.some((v) => compare(v, c))) return { gate, passed: false, detail: `datasets.${c.key} is ${values.length === 0 ? `missing on run ${run.info.runId}` : values.map((v) => `'${v}'`).join(", ")}` };
      continue;
    }
    const { name, value } = lookup(c, run);
    const present = value !== undefined && value !== null;
    if (c.comparator === "IS NULL" || c.comparator === "IS NOT NULL") {
      if (present !== (c.comparator === "IS NOT NULL")) return { gate, passed: false, detail: `${name} is ${present ? String(value) : "missing"}` };
      continue;
    }
    if (!present) return { gate, passed: false, detail: `${name} is missing on run ${run.info.runId}` };
    if (typeof value === "number" && Number.isNaN(value)) return { gate, passed: false, detail: `${name} is NaN` };
    if (!compare(value, c)) return { gate, passed: false, detail: `${name} is ${String(value)}` };
  }
  return { gate, passed: true, detail: "" };
}
