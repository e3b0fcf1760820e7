/**
 * Batch scoring: a table file (Parquet, CSV or NDJSON) scored by an ONNX model into another, in
 * bounded memory whatever the size of the file.
 *
 * Two passes keep memory bounded:
 * 1. Scoring: DuckDB streams only the model's input columns (cast to the input's element type)
 *    chunk by chunk; they fill one reusable batch buffer, ONNX Runtime scores it, and the
 *    predictions go through DuckDB's appender into a small table that is written out as a Parquet
 *    part file every `rowsPerPart` rows and dropped. In memory: one batch and at most one part.
 * 2. Writing: one `COPY (SELECT input.*, predictions.*, model_name, model_version FROM input
 *    POSITIONAL JOIN parts) TO output`. Both sides are table scans, so DuckDB plans a streaming
 *    POSITIONAL_SCAN, and its Parquet, CSV and JSON writers write as rows arrive. The input's
 *    columns never pass through JavaScript and keep their exact types.
 * The input is read twice. The parts and the output are written in a temporary directory beside
 * the output (not the system temp directory, which is often in RAM), and the output is renamed
 * into place only once it is complete: a failure leaves no partial file behind.
 */
import { mkdtemp, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { FlywheelError } from "../core/errors.js";
import { OfflineDb, duckdbMessage, quoteIdentifier as qi, quoteLiteral as lit, type ColumnInfo, type OfflineDbOptions } from "../storage/offline/duckdb.js";
import type { ColumnValues } from "../storage/offline/table-appender.js";
import { SQL_TYPE_OF, checkAddedColumns, mapInputs, planOutputs, type InputMapping, type InputRule, type OutputPlan } from "./batch-columns.js";
import { copyOptionsSql, readTableSql, resolveFormat, type TableFormat } from "./batch-formats.js";
import { BatchInputs } from "./batch-inputs.js";
import { PredictionParts, outputValues } from "./prediction-parts.js";
import type { ScoringModel } from "./scoring-model.js";
import type { RuntimeTensor, ServingSignature } from "./tensors.js";

export type { TableFormat } from "./batch-formats.js";
export { openScoringModel, type ScoringModel } from "./scoring-model.js";

export type ScoringProgress =
  /** After each batch; `totalRows` is known for Parquet input (from the file footers). */
  | { phase: "score"; rows: number; totalRows: number | undefined }
  /** While the output is written; `percent` is DuckDB's estimate, when it has one. */
  | { phase: "write"; percent: number | undefined };

export interface BatchScoringOptions {
  /** A file, or a glob DuckDB expands (e.g. `data/*.parquet`). */
  input: string;
  /** Default: from the input's extension. */
  inputFormat?: TableFormat;
  output: string;
  /** Default: from the output's extension. */
  outputFormat?: TableFormat;
  /** Rows per ONNX Runtime call; default 8192. */
  batchSize?: number;
  /** The columns feeding the model, in order; default: the package's feature list (see batch-columns.ts). */
  columns?: readonly string[];
  /** The outputs to write; default: all, in the model's order. */
  outputs?: readonly string[];
  /** Starts the name of every added column (e.g. `pred_`); default none. */
  prefix?: string;
  /** The reference the model was chosen by (e.g. `models:/churn@champion`), kept in Parquet metadata. */
  modelUri?: string;
  /** Predictions buffered before they are written as a part file; default 1,048,576 rows. */
  rowsPerPart?: number;
  db?: OfflineDbOptions;
  onProgress?: (progress: ScoringProgress) => void;
  /** Stops the run (between batches, or DuckDB's write); it then fails and writes nothing. */
  signal?: AbortSignal;
}

export interface BatchScoringResult {
  rows: number;
  /** The absolute path written. */
  output: string;
  inputFormat: TableFormat;
  outputFormat: TableFormat;
  /** How the input columns were chosen, and which they were, per model input. */
  rule: InputRule;
  inputColumns: Record<string, string[]>;
  /** The columns added after the input's columns. */
  addedColumns: string[];
}

export const DEFAULT_BATCH_SIZE = 8192;
const DEFAULT_ROWS_PER_PART = 1 << 20;
const MAX_BATCH_SIZE = 1 << 20;

function invalid(message: string): FlywheelError {
  return new FlywheelError("FW_REQUEST_INVALID_FIELD", message);
}

/** The failure of a run stopped through its signal. */
export class ScoringAbortedError extends Error {
  override readonly name = "ScoringAbortedError";
  constructor() {
    super("scoring was interrupted; no output was written");
  }
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new ScoringAbortedError();
}

/** DuckDB failures that mean the input cannot be read as asked (as opposed to, say, running out of memory). */
const INPUT_ERROR = /^(Conversion|Invalid Input|IO|Binder|Parser) Error/;

/** Runs a step that reads the input; DuckDB's complaints about the file become bad-input errors. */
async function readingInput<T>(input: string, format: TableFormat, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    const message = duckdbMessage(e);
    if (e instanceof FlywheelError && e.code === "FW_INTERNAL" && INPUT_ERROR.test(message)) {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `cannot read the input '${input}' as ${format}: ${message}`, { cause: e });
    }
    throw e;
  }
}

async function checkPaths(input: string, output: string): Promise<void> {
  if (!/[*?[]/.test(input)) {
    const s = await stat(input).catch(() => undefined);
    if (s === undefined) throw invalid(`the input file '${input}' does not exist`);
    if (s.isDirectory()) throw invalid(`the input '${input}' is a directory; give a file, or a glob such as '${join(input, "*.parquet")}'`);
  }
  const dir = await stat(dirname(output)).catch(() => undefined);
  if (dir === undefined || !dir.isDirectory()) throw invalid(`the output directory '${dirname(output)}' does not exist`);
  const existing = await stat(output).catch(() => undefined);
  if (existing?.isDirectory() === true) throw invalid(`the output '${output}' is a directory`);
}

function checkOutputs(requested: readonly string[] | undefined, signature: ServingSignature): string[] {
  const known = signature.outputs.map((o) => o.name);
  if (requested === undefined || requested.length === 0) return known;
  const unknown = requested.filter((n) => !known.includes(n));
  if (unknown.length > 0) throw invalid(`the model has no output ${unknown.map((n) => `'${n}'`).join(", ")}; its outputs are ${known.map((n) => `'${n}'`).join(", ")}`);
  return [...new Set(requested)];
}

interface ScoringPass {
  rows: number;
  plans: OutputPlan[];
  parts: string[];
}

/** Pass 1: streams the input columns through the model into prediction parts. */
async function scorePass(
  model: ScoringModel,
  mapping: InputMapping,
  outputs: readonly string[],
  ctx: { reader: OfflineDb; writer: OfflineDb; work: string; source: string; input: string; format: TableFormat; fileColumns: ColumnInfo[] },
  opts: BatchScoringOptions,
  batchSize: number,
  totalRows: number | undefined,
): Promise<ScoringPass> {
  const prefix = opts.prefix ?? "";
  const selects = mapping.inputs.flatMap((p) => p.columns.map((c) => `CAST(${qi(c)} AS ${SQL_TYPE_OF[p.dtype]})`));
  const result = await readingInput(ctx.input, ctx.format, () => ctx.reader.stream(`SELECT ${selects.join(", ")} FROM ${ctx.source}`));
  const batch = new BatchInputs(mapping.inputs, batchSize, model.allowNan ? undefined : { model: `model '${model.name}' version ${model.version}` });
  const parts = new PredictionParts(ctx.writer, ctx.work, opts.rowsPerPart ?? DEFAULT_ROWS_PER_PART);
  let plans: OutputPlan[] | undefined;
  let scored = 0;

  const flush = async (): Promise<void> => {
    const n = batch.filled;
    let tensors: Record<string, RuntimeTensor>;
    try {
      tensors = await model.run(batch.feeds(), outputs);
    } catch (e) {
      const what = `model '${model.name}' version ${model.version}`;
      const why = e instanceof Error ? e.message : String(e);
      if (n === 0) throw invalid(`the input has no rows, and ${what} cannot run on an empty batch to tell which columns its outputs become: ${why}`);
      throw invalid(`${what} could not score rows ${scored + 1}-${scored + n}: ${why}`);
    }
    if (plans === undefined) {
      plans = planOutputs(tensors, outputs, n, model.classNames, prefix);
      checkAddedColumns([...plans.flatMap((p) => p.columns.map((c) => c.name)), `${prefix}model_name`, `${prefix}model_version`], ctx.fileColumns);
      await parts.start(plans);
    }
    const values: ColumnValues[] = [];
    for (const plan of plans) {
      const t = tensors[plan.output] as RuntimeTensor;
      const width = t.dims.slice(1).reduce((k, d) => k * d, 1);
      if (t.dims[0] !== n || width !== plan.width) {
        throw new Error(`the model's output '${plan.output}' has shape [${t.dims.join(", ")}] for ${n} rows; earlier batches had ${plan.width} value(s) per row`);
      }
      for (let j = 0; j < plan.width; j++) values.push(outputValues(plan, t, j, scored));
    }
    await parts.append(n, values);
    scored += n;
    batch.filled = 0;
    opts.onProgress?.({ phase: "score", rows: scored, totalRows });
    checkAborted(opts.signal);
  };

  try {
    // One chunk is fetched ahead, so DuckDB decodes the next chunk while the model runs.
    const fetchNext = () => {
      const p = readingInput(ctx.input, ctx.format, () => result.next());
      p.catch(() => undefined);
      return p;
    };
    let pending = fetchNext();
    let fileRow = 0;
    for (let chunk = await pending; chunk !== null; chunk = await pending) {
      pending = fetchNext();
      for (let from = 0; from < chunk.rowCount; ) {
        const take = Math.min(batchSize - batch.filled, chunk.rowCount - from);
        batch.add(chunk, from, take, fileRow + from);
        from += take;
        if (batch.filled === batchSize) await flush();
      }
      fileRow += chunk.rowCount;
    }
    // An empty input still runs one empty batch: it tells which columns the outputs become.
    if (batch.filled > 0 || plans === undefined) await flush();
    return { rows: scored, plans: plans as OutputPlan[], parts: await parts.finish() };
  } finally {
    parts.close();
  }
}

/** Pass 2: the input's columns, the predictions and the model, written by one streaming COPY. */
async function writePass(
  db: OfflineDb,
  model: ScoringModel,
  ctx: { source: string; parts: string[]; target: string; format: TableFormat },
  opts: BatchScoringOptions,
): Promise<number> {
  const prefix = opts.prefix ?? "";
  const metadata: Record<string, string> = { "flywheel.model_name": model.name, "flywheel.model_version": model.version };
  if (opts.modelUri !== undefined) metadata["flywheel.model_uri"] = opts.modelUri;
  const sql =
    `COPY (SELECT i.*, p.*, ${lit(model.name)} AS ${qi(`${prefix}model_name`)}, ${lit(model.version)} AS ${qi(`${prefix}model_version`)} ` +
    `FROM ${ctx.source} AS i POSITIONAL JOIN read_parquet([${ctx.parts.map(lit).join(", ")}]) AS p) ` +
    `TO ${lit(ctx.target)} ${copyOptionsSql(ctx.format, metadata)}`;
  const report = opts.onProgress;
  report?.({ phase: "write", percent: 0 });
  checkAborted(opts.signal);
  const timer = report === undefined ? undefined : setInterval(() => report({ phase: "write", percent: db.progress() }), 100);
  const interrupt = () => db.interrupt();
  opts.signal?.addEventListener("abort", interrupt);
  try {
    const written = await db.run(sql);
    checkAborted(opts.signal);
    report?.({ phase: "write", percent: 100 });
    return written;
  } catch (e) {
    checkAborted(opts.signal);
    throw e;
  } finally {
    if (timer !== undefined) clearInterval(timer);
    opts.signal?.removeEventListener("abort", interrupt);
  }
}

/**
 * Scores `options.input` with `model` into `options.output`: the input's columns, then the
 * model's outputs, then `model_name` and `model_version`.
 *
 * @example
 * const model = await openScoringModel({ name: "churn", version: "3", package: pkg, onnx });
 * await scoreFile(model, { input: "data.parquet", output: "scored.parquet" });
 */
export async function scoreFile(model: ScoringModel, options: BatchScoringOptions): Promise<BatchScoringResult> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw invalid(`the batch size must be an integer from 1 to ${MAX_BATCH_SIZE}, got ${batchSize}`);
  }
  const rowsPerPart = options.rowsPerPart ?? DEFAULT_ROWS_PER_PART;
  if (!Number.isSafeInteger(rowsPerPart) || rowsPerPart < 1) throw invalid(`rowsPerPart must be a positive integer, got ${rowsPerPart}`);
  const input = options.input;
  const output = resolve(options.output);
  const inputFormat = resolveFormat(input, options.inputFormat, "the input file", "--input-format");
  const outputFormat = resolveFormat(output, options.outputFormat, "the output file", "--format");
  const outputs = checkOutputs(options.outputs, model.signature);
  await checkPaths(input, output);
  checkAborted(options.signal);

  const work = await mkdtemp(join(dirname(output), ".flywheel-predict-"));
  // Two databases: a streaming result is closed by the next statement on its connection.
  let reader: OfflineDb | undefined;
  let writer: OfflineDb | undefined;
  try {
    reader = await OfflineDb.open(options.db);
    writer = await OfflineDb.open(options.db);
    await writer.run("SET enable_progress_bar = true; SET enable_progress_bar_print = false");
    const source = readTableSql(input, inputFormat);
    const db = reader;
    const fileColumns = await readingInput(input, inputFormat, () => db.describe(source));
    const mapping = mapInputs(model.signature, fileColumns, options.columns ?? model.features, options.columns !== undefined);
    const totalRows = inputFormat === "parquet" ? await countRows(reader, source, input) : undefined;

    const ctx = { reader, writer, work, source, input, format: inputFormat, fileColumns };
    const scored = await scorePass(model, mapping, outputs, ctx, options, batchSize, totalRows);
    reader.close();

    const target = join(work, basename(output));
    const written = await writePass(writer, model, { source, parts: scored.parts, target, format: outputFormat }, options);
    if (written !== scored.rows) {
      throw new Error(`the input '${input}' gave ${scored.rows} rows to score and ${written} rows to write: did it change while it was scored?`);
    }
    await rename(target, output);
    const prefix = options.prefix ?? "";
    return {
      rows: scored.rows,
      output,
      inputFormat,
      outputFormat,
      rule: mapping.rule,
      inputColumns: Object.fromEntries(mapping.inputs.map((p) => [p.name, [...p.columns]])),
      addedColumns: [...scored.plans.flatMap((p) => p.columns.map((c) => c.name)), `${prefix}model_name`, `${prefix}model_version`],
    };
  } finally {
    reader?.close();
    writer?.close();
    await rm(work, { recursive: true, force: true });
  }
}

/** Rows in Parquet input, from the file footers (no data is read). */
async function countRows(db: OfflineDb, source: string, input: string): Promise<number | undefined> {
  const rows = await readingInput(input, "parquet", () => db.query(`SELECT count(*) AS n FROM ${source}`));
  const n = rows[0]?.n;
  return typeof n === "bigint" || typeof n === "number" ? Number(n) : undefined;
}
