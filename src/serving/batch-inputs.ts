/**
 * The input tensors of one batch, filled from DuckDB result chunks into typed arrays that are
 * reused batch after batch. A batch may span chunks and a chunk may span batches.
 */
import { FlywheelError } from "../core/errors.js";
import type { TensorDtype } from "../onnx/inspect.js";
import type { ResultChunk } from "../storage/offline/duckdb.js";
import type { TensorData } from "./binary-tensors.js";
import type { InputPlan } from "./batch-columns.js";
import { toFloat16Bits } from "./float16.js";
import type { TensorValue } from "./tensors.js";

function allocate(dtype: TensorDtype, n: number): TensorData {
  switch (dtype) {
    case "bool":
    case "uint8":
      return new Uint8Array(n);
    case "int8":
      return new Int8Array(n);
    case "int16":
      return new Int16Array(n);
    case "uint16":
    case "float16":
      return new Uint16Array(n);
    case "int32":
      return new Int32Array(n);
    case "uint32":
      return new Uint32Array(n);
    case "int64":
      return new BigInt64Array(n);
    case "uint64":
      return new BigUint64Array(n);
    case "float32":
      return new Float32Array(n);
    case "float64":
      return new Float64Array(n);
    case "string":
      return new Array<string>(n).fill("");
  }
}

/** The first `n` elements of a buffer, without copying typed arrays. */
function head(data: TensorData, n: number): TensorData {
  return Array.isArray(data) ? data.slice(0, n) : (data as Exclude<TensorData, string[]>).subarray(0, n);
}

interface Slot {
  plan: InputPlan;
  /** Index of the plan's first column in the result's columns. */
  firstColumn: number;
  width: number;
  data: TensorData;
}

export class BatchInputs {
  private readonly slots: Slot[];
  /** Rows filled so far in the current batch. */
  filled = 0;

  /**
   * `refuseNaN` is set for a model whose package forbids NaN (`metadata.flywheel.allow_nan:
   * false`): a NULL or NaN in a float column is then an error naming the row and column, instead
   * of a NaN the model would score.
   */
  constructor(
    plans: readonly InputPlan[],
    readonly capacity: number,
    private readonly refuseNaN?: { model: string },
  ) {
    let column = 0;
    this.slots = plans.map((plan) => {
      const width = plan.columns.length;
      const slot = { plan, firstColumn: column, width, data: allocate(plan.dtype, capacity * width) };
      column += width;
      return slot;
    });
  }

  /**
   * Copies `count` rows of `chunk`, from row `from` on, into the batch. `firstRow` is the 0-based
   * row number of `from` in the file, for messages about missing values.
   */
  add(chunk: ResultChunk, from: number, count: number, firstRow: number): void {
    for (const slot of this.slots) {
      for (let j = 0; j < slot.width; j++) {
        const vector = chunk.getColumnVector(slot.firstColumn + j);
        const at = this.filled * slot.width + j;
        const column = slot.plan.columns[j] as string;
        const nan = this.refuseNaN;
        copyColumn(
          vector,
          from,
          count,
          slot,
          at,
          () => missing(slot.plan, column, vector, from, count, firstRow),
          nan === undefined ? undefined : (i, isNull) => refusedNaN(nan.model, slot.plan, column, firstRow + i, isNull),
        );
      }
    }
    this.filled += count;
  }

  /** The feeds of the rows filled so far: `[n]` or `[n, k]` per input. */
  feeds(): Record<string, TensorValue> {
    const n = this.filled;
    const feeds: Record<string, TensorValue> = {};
    for (const { plan, width, data } of this.slots) {
      feeds[plan.name] = { type: plan.dtype, data: head(data, n * width), dims: [n, ...plan.rowShape] };
    }
    return feeds;
  }
}

/** The error for a NULL or NaN at `row` (0-based) of a float column, for a model that does not take NaN. */
function refusedNaN(model: string, plan: InputPlan, column: string, row: number, isNull: boolean): FlywheelError {
  return new FlywheelError(
    "FW_REQUEST_INVALID_FIELD",
    `row ${row + 1}: column '${column}' ${isNull ? "is empty (NULL)" : "holds NaN"}, and ${model} does not take NaN in its input '${plan.name}' (its package sets allow_nan: false)`,
  );
}

/** The error for the first NULL among the copied rows of a column whose input cannot take one. */
function missing(plan: InputPlan, column: string, vector: { getItem(row: number): unknown }, from: number, count: number, firstRow: number): FlywheelError {
  let i = 0;
  while (i < count - 1 && vector.getItem(from + i) !== null) i++;
  return new FlywheelError(
    "FW_REQUEST_INVALID_FIELD",
    `row ${firstRow + i + 1}: column '${column}' is empty (NULL), and the model's input '${plan.name}' (${plan.dtype}) cannot take a missing value`,
  );
}

/**
 * Copies `count` values of a column into `slot.data` at `at`, `at + width`, ... NULL becomes NaN
 * for float inputs (as pandas reads a missing value) and is refused otherwise; with `onNaN` (a
 * model that does not take NaN) a float NULL or NaN is refused too.
 */
function copyColumn(
  vector: { getItem(row: number): unknown },
  from: number,
  count: number,
  slot: Slot,
  at: number,
  onNull: () => FlywheelError,
  onNaN?: (i: number, isNull: boolean) => FlywheelError,
): void {
  const { width } = slot;
  // The refusing read only for a model that asks for it: the plain loop is the hot path.
  const refusing = (i: number): number => {
    const v = vector.getItem(from + i) as number | null;
    if (v === null || Number.isNaN(v)) throw (onNaN as NonNullable<typeof onNaN>)(i, v === null);
    return v;
  };
  switch (slot.plan.dtype) {
    case "float32":
    case "float64": {
      const out = slot.data as Float32Array | Float64Array;
      if (onNaN !== undefined) for (let i = 0; i < count; i++) out[at + i * width] = refusing(i);
      else for (let i = 0; i < count; i++) out[at + i * width] = (vector.getItem(from + i) as number | null) ?? Number.NaN;
      return;
    }
    case "float16": {
      const out = slot.data as Uint16Array;
      if (onNaN !== undefined) for (let i = 0; i < count; i++) out[at + i * width] = toFloat16Bits(refusing(i));
      else for (let i = 0; i < count; i++) out[at + i * width] = toFloat16Bits((vector.getItem(from + i) as number | null) ?? Number.NaN);
      return;
    }
    case "bool": {
      const out = slot.data as Uint8Array;
      for (let i = 0; i < count; i++) {
        const v = vector.getItem(from + i) as boolean | null;
        if (v === null) throw onNull();
        out[at + i * width] = v ? 1 : 0;
      }
      return;
    }
    case "string": {
      const out = slot.data as string[];
      for (let i = 0; i < count; i++) {
        const v = vector.getItem(from + i) as string | null;
        if (v === null) throw onNull();
        out[at + i * width] = v;
      }
      return;
    }
    case "int64":
    case "uint64": {
      const out = slot.data as BigInt64Array | BigUint64Array;
      for (let i = 0; i < count; i++) {
        const v = vector.getItem(from + i) as bigint | null;
        if (v === null) throw onNull();
        out[at + i * width] = v;
      }
      return;
    }
    case "int8":
    case "int16":
    case "int32":
    case "uint8":
    case "uint16":
    case "uint32": {
      const out = slot.data as Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array;
      for (let i = 0; i < count; i++) {
        const v = vector.getItem(from + i) as number | null;
        if (v === null) throw onNull();
        out[at + i * width] = v;
      }
      return;
    }
  }
}
