/**
 * What a model's outputs mean for each row: the label (a class name when the package lists class
 * names), probabilities per class, or a regression value. Used by the predict API's answers and by
 * the inference log, so both read a model's outputs the same way.
 */
import type { ResponseValue } from "./tensors.js";

export interface Prediction {
  /** The class (its name when the package lists class names), or the regression value. */
  label?: ResponseValue;
  /** Probability per class, keyed by class name (or by class index without names). */
  probabilities?: Record<string, number>;
  /** A regression model's output. */
  value?: number | number[];
}

/** What interpreting needs of an output tensor: name, shape, protocol datatype and row-major values. */
export interface OutputValues {
  name: string;
  shape: readonly number[];
  datatype: string;
  data: ArrayLike<unknown>;
}

/** What an output tensor looks like, before its values are read. */
export type OutputShape = Pick<OutputValues, "name" | "shape" | "datatype">;

/**
 * Which outputs hold the label (by name, else the one integer or string column), the
 * probabilities (by name, else a float [n, classes] beside a label) and, with neither, the
 * regression value; `n` is the number of rows.
 */
export function outputRoles<T extends OutputShape>(outputs: readonly T[], n: number): { label?: T | undefined; prob?: T | undefined; value?: T | undefined } {
  const isRows = (t: T) => t.shape[0] === n;
  const label =
    outputs.find((t) => /label/i.test(t.name) && isRows(t)) ??
    outputs.find((t) => (t.datatype.startsWith("INT") || t.datatype === "BYTES") && isRows(t) && (t.shape.length === 1 || t.shape[1] === 1));
  const prob =
    outputs.find((t) => /prob/i.test(t.name) && isRows(t) && t.shape.length === 2) ??
    outputs.find((t) => t !== label && t.datatype.startsWith("FP") && isRows(t) && t.shape.length === 2 && (t.shape[1] ?? 0) >= 2 && label !== undefined);
  const value = label === undefined && prob === undefined ? outputs.find((t) => t.datatype.startsWith("FP") && isRows(t)) : undefined;
  return { label, prob, value };
}

/** Label, probabilities and regression values from the model's outputs. */
export function interpret(outputs: readonly OutputValues[], n: number, classNames: readonly string[] | undefined): Prediction[] {
  const { label: labelOut, prob: probOut, value: valueOut } = outputRoles(outputs, n);
  const name = (k: number): string => classNames?.[k] ?? String(k);
  return Array.from({ length: n }, (_, i) => {
    const p: Prediction = {};
    if (probOut !== undefined) {
      const c = probOut.shape[1] as number;
      const probs: Record<string, number> = {};
      for (let k = 0; k < c; k++) probs[name(k)] = Number(probOut.data[i * c + k]);
      p.probabilities = probs;
      if (labelOut === undefined) {
        let best = 0;
        for (let k = 1; k < c; k++) if (Number(probOut.data[i * c + k]) > Number(probOut.data[i * c + best])) best = k;
        p.label = name(best);
      }
    }
    if (labelOut !== undefined) {
      const raw = labelOut.data[i] as ResponseValue;
      p.label = typeof raw === "number" && classNames !== undefined && Number.isInteger(raw) && raw >= 0 && raw < classNames.length ? (classNames[raw] as string) : raw;
    }
    if (valueOut !== undefined) {
      const width = valueOut.shape.length === 2 ? (valueOut.shape[1] as number) : 1;
      const vals = Array.from({ length: width }, (_, k) => Number(valueOut.data[i * width + k]));
      p.value = width === 1 ? (vals[0] as number) : vals;
    }
    return p;
  });
}
