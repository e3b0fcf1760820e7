/**
 * Which columns of a table feed which input of a model, and which columns the model's outputs
 * become, for batch scoring.
 *
 * Inputs are matched in this order:
 * 1. an explicit column list (`--columns`), else the package's feature list
 *    (`metadata.flywheel.features`): the columns, in that order, fill the rows of the model's one
 *    2-D input `[-1, k]`;
 * 2. when every input takes one value per row (`[-1]` or `[-1, 1]`), each input reads the column
 *    with its name;
 * 3. a single 2-D float input takes every numeric column, in file order.
 *
 * Outputs become columns named after them: an output with one value per row is one column
 * (`label`); an output with k values per row is k columns `<output>_<j>`, where `j` is the class
 * name when the package lists k class names (`probabilities_setosa`) and the index otherwise. An
 * integer output with one value per row is mapped to the class names when the package lists them.
 */
import { FlywheelError } from "../core/errors.js";
import type { TensorDtype } from "../onnx/inspect.js";
import type { ColumnInfo } from "../storage/offline/duckdb.js";
import type { AppendableType } from "../storage/offline/table-appender.js";
import { describeShape, dtypeOfDatatype, type ServingSignature, type ServingTensorSpec } from "./tensors.js";

/** The DuckDB type a value of each element type is read as, or written as. */
export const SQL_TYPE_OF: Readonly<Record<TensorDtype, AppendableType>> = {
  bool: "BOOLEAN",
  int8: "TINYINT",
  int16: "SMALLINT",
  int32: "INTEGER",
  int64: "BIGINT",
  uint8: "UTINYINT",
  uint16: "USMALLINT",
  uint32: "UINTEGER",
  uint64: "UBIGINT",
  // DuckDB has no half-precision type: FP16 values travel as FLOAT.
  float16: "FLOAT",
  float32: "FLOAT",
  float64: "DOUBLE",
  string: "VARCHAR",
};

const INTEGER_TYPE = /^U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)$/;
const NUMERIC_TYPE = /^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL\(\d+,\s*\d+\))$/;

/** Whether a DuckDB column type is a number (integer, float or decimal). */
export function isNumericType(type: string): boolean {
  return NUMERIC_TYPE.test(type);
}

/** Whether a column of DuckDB type `type` can feed an input of element type `dtype`, and what it must be otherwise. */
function columnFits(type: string, dtype: TensorDtype): { ok: boolean; needs: string } {
  switch (dtype) {
    case "float16":
    case "float32":
    case "float64":
      return { ok: NUMERIC_TYPE.test(type), needs: "a numeric column" };
    case "int8":
    case "int16":
    case "int32":
    case "int64":
    case "uint8":
    case "uint16":
    case "uint32":
    case "uint64":
      return { ok: INTEGER_TYPE.test(type), needs: "an integer column" };
    case "bool":
      return { ok: type === "BOOLEAN", needs: "a BOOLEAN column" };
    case "string":
      return { ok: type === "VARCHAR", needs: "a VARCHAR column" };
  }
}

/** One model input and the columns that fill its rows. */
export interface InputPlan {
  name: string;
  dtype: TensorDtype;
  /** The file's columns, in the order they fill one row of the input. */
  columns: string[];
  /** The dimensions of one row: `[]` for `[-1]`, `[k]` for `[-1, k]`. */
  rowShape: number[];
}

/** How the columns were chosen (see the module comment). */
export type InputRule = "columns-option" | "package-features" | "input-names" | "numeric-columns";

export interface InputMapping {
  rule: InputRule;
  inputs: InputPlan[];
}

function invalid(message: string): FlywheelError {
  return new FlywheelError("FW_REQUEST_INVALID_FIELD", message);
}

const list = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(", ");

function describeInputs(signature: ServingSignature): string {
  return signature.inputs.map((s) => `${s.name} ${s.datatype} ${describeShape(s.shape)}`).join(", ");
}

/** The element type of a model input; the signature's datatypes are protocol names. */
function dtypeOf(spec: ServingTensorSpec): TensorDtype {
  const dtype = dtypeOfDatatype(spec.datatype);
  if (dtype === undefined) throw invalid(`the model's input '${spec.name}' has datatype ${spec.datatype}, which batch scoring cannot feed`);
  return dtype;
}

/** `[-1]` or `[-1, 1]`: one value per row. */
function takesOneValue(spec: ServingTensorSpec): boolean {
  return spec.shape.length === 1 || (spec.shape.length === 2 && spec.shape[1] === 1);
}

function checkBatchDimension(signature: ServingSignature): void {
  for (const s of signature.inputs) {
    if (s.shape.length === 0 || s.shape.length > 2) {
      throw invalid(`the model's input '${s.name}' has shape ${describeShape(s.shape)}; batch scoring feeds tables, so it needs [-1] or [-1, k]`);
    }
    if (s.shape[0] !== -1) {
      throw invalid(`the model's input '${s.name}' has a fixed first dimension (shape ${describeShape(s.shape)}); batch scoring needs a variable batch dimension`);
    }
  }
}

function planFor(spec: ServingTensorSpec, columns: string[]): InputPlan {
  return { name: spec.name, dtype: dtypeOf(spec), columns, rowShape: spec.shape.length === 1 ? [] : [columns.length] };
}

/** Checks that every column exists and has a type the input takes. */
function checkColumns(plans: InputPlan[], file: readonly ColumnInfo[], source: string): void {
  const types = new Map(file.map((c) => [c.name, c.type]));
  const missing = plans.flatMap((p) => p.columns.filter((c) => !types.has(c)));
  if (missing.length > 0) {
    throw invalid(`the input has no column ${list(missing)} (${source}); its columns are ${list(file.map((c) => c.name))}`);
  }
  for (const p of plans) {
    for (const c of p.columns) {
      const type = types.get(c) as string;
      const fit = columnFits(type, p.dtype);
      if (!fit.ok) {
        throw invalid(`column '${c}' is ${type}, but the model's input '${p.name}' takes ${SQL_TYPE_OF[p.dtype]} values (${p.dtype}), which needs ${fit.needs}`);
      }
    }
  }
}

/**
 * Matches the file's columns to the model's inputs (rules in the module comment). `features` is
 * the column list from `--columns` (`fromOption`) or from the package.
 */
export function mapInputs(
  signature: ServingSignature,
  file: readonly ColumnInfo[],
  features: readonly string[] | undefined,
  fromOption: boolean,
): InputMapping {
  checkBatchDimension(signature);
  const inputs = signature.inputs;
  const only = inputs.length === 1 ? inputs[0] : undefined;
  if (features !== undefined) {
    const source = fromOption ? "listed by --columns" : "the model's features, from the model package";
    const width = only?.shape.length === 2 ? only.shape[1] : only?.shape.length === 1 ? 1 : undefined;
    if (only !== undefined && width !== undefined && (width === features.length || (width === -1 && only.shape.length === 2))) {
      const plan = planFor(only, [...features]);
      checkColumns([plan], file, source);
      return { rule: fromOption ? "columns-option" : "package-features", inputs: [plan] };
    }
    if (fromOption || !inputs.every(takesOneValue)) {
      throw invalid(`${features.length} columns are ${source}, but the model takes ${describeInputs(signature)}`);
    }
  }
  const names = new Set(file.map((c) => c.name));
  if (inputs.every(takesOneValue) && (only === undefined || names.has(only.name))) {
    const plans = inputs.map((s) => planFor(s, [s.name]));
    checkColumns(plans, file, "the model's input names");
    return { rule: "input-names", inputs: plans };
  }
  if (only !== undefined && only.shape.length === 2) {
    const dtype = dtypeOf(only);
    if (dtype === "float16" || dtype === "float32" || dtype === "float64") {
      const numeric = file.filter((c) => isNumericType(c.type)).map((c) => c.name);
      const width = only.shape[1] as number;
      if (numeric.length === 0 || (width !== -1 && numeric.length !== width)) {
        throw invalid(
          `the model's input '${only.name}' takes ${width === -1 ? "a row of" : width} values per row, and the file has ${numeric.length} numeric column(s)` +
            `${numeric.length === 0 ? "" : ` (${list(numeric)})`}; list the columns with --columns, or record the features in the model package`,
        );
      }
      return { rule: "numeric-columns", inputs: [planFor(only, numeric)] };
    }
  }
  throw invalid(`cannot tell which columns feed the model's inputs (${describeInputs(signature)}); list them with --columns`);
}

/** One column an output becomes. */
export interface OutputColumn {
  name: string;
  /** DuckDB type of the column. */
  type: AppendableType;
}

/** One model output and the columns it becomes. */
export interface OutputPlan {
  output: string;
  /** Element type of the output tensor, as ONNX Runtime names it. */
  type: string;
  /** Values per row. */
  width: number;
  columns: OutputColumn[];
  /** Present when the output's integer values are mapped to these class names. */
  classNames?: readonly string[];
}

const INTEGER_OUTPUT = new Set(["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]);

/**
 * The columns each output becomes, from the tensors of a first run over `rows` rows. `prefix`
 * starts every added column name; `classNames` are the package's class names, if any.
 */
export function planOutputs(
  tensors: Readonly<Record<string, { type: string; dims: readonly number[] }>>,
  outputs: readonly string[],
  rows: number,
  classNames: readonly string[] | undefined,
  prefix: string,
): OutputPlan[] {
  return outputs.map((output) => {
    const t = tensors[output];
    if (t === undefined) throw new Error(`the model did not produce its output '${output}'`);
    if (t.dims[0] !== rows || t.dims.length === 0) {
      throw invalid(`the model's output '${output}' has shape ${describeShape(t.dims)} for ${rows} rows, not one entry per row; choose the outputs to write with --outputs`);
    }
    if (!(t.type in SQL_TYPE_OF)) throw invalid(`the model's output '${output}' has element type ${t.type}, which cannot be written to a table`);
    const dtype = t.type as TensorDtype;
    const width = t.dims.slice(1).reduce((n, d) => n * d, 1);
    if (width === 1) {
      if (classNames !== undefined && INTEGER_OUTPUT.has(dtype)) {
        return { output, type: t.type, width, columns: [{ name: prefix + output, type: "VARCHAR" }], classNames };
      }
      return { output, type: t.type, width, columns: [{ name: prefix + output, type: SQL_TYPE_OF[dtype] }] };
    }
    const named = classNames !== undefined && classNames.length === width && !INTEGER_OUTPUT.has(dtype) && dtype !== "string";
    const columns = Array.from({ length: width }, (_, j) => ({ name: `${prefix}${output}_${named ? (classNames[j] as string) : j}`, type: SQL_TYPE_OF[dtype] }));
    return { output, type: t.type, width, columns };
  });
}

/**
 * Refuses added columns that clash with each other or with the input's columns (DuckDB compares
 * names without regard to case).
 */
export function checkAddedColumns(added: readonly string[], file: readonly ColumnInfo[]): void {
  const seen = new Map(file.map((c) => [c.name.toLowerCase(), `the input column '${c.name}'`]));
  for (const name of added) {
    const clash = seen.get(name.toLowerCase());
    if (clash !== undefined) {
      throw invalid(`the output column '${name}' would clash with ${clash}; pass --prefix (e.g. --prefix pred_) to rename the added columns`);
    }
    seen.set(name.toLowerCase(), `the added column '${name}'`);
  }
}
