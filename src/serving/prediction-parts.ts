/**
 * Predictions on their way to the output: appended through DuckDB's appender to a small table
 * that is written out as a Parquet part file every `rowsPerPart` rows and then replaced, so at
 * most one part is ever held in memory.
 */
import { join } from "node:path";
import { quoteLiteral as lit, type OfflineDb } from "../storage/offline/duckdb.js";
import { TableAppender, type AppendColumn, type ColumnValues } from "../storage/offline/table-appender.js";
import type { OutputPlan } from "./batch-columns.js";
import { fromFloat16Bits } from "./float16.js";
import type { RuntimeTensor } from "./tensors.js";

/** The values of an output's `j`-th column, row by row, as the column's type wants them. */
export function outputValues(plan: OutputPlan, tensor: RuntimeTensor, j: number, firstRow: number): ColumnValues {
  const w = plan.width;
  const data = tensor.data as ArrayLike<unknown>;
  const names = plan.classNames;
  if (names !== undefined) {
    return (row) => {
      const v = Number(data[row * w + j]);
      const name = Number.isInteger(v) && v >= 0 ? names[v] : undefined;
      if (name === undefined) {
        throw new Error(`row ${firstRow + row + 1}: the model's output '${plan.output}' is ${v}, which is not an index into the package's ${names.length} class names`);
      }
      return name;
    };
  }
  if (tensor.type === "float16" && data instanceof Uint16Array) return (row) => fromFloat16Bits(data[row * w + j] as number);
  if (tensor.type === "bool") return (row) => Boolean(data[row * w + j]);
  if (tensor.type === "float16") return (row) => Number(data[row * w + j]);
  return (row) => data[row * w + j] as number | bigint | string;
}

/** The part files of one run, in row order. */
export class PredictionParts {
  readonly files: string[] = [];
  private appender: TableAppender | undefined;
  private rows = 0;
  private columns: AppendColumn[] = [];

  constructor(
    private readonly db: OfflineDb,
    private readonly dir: string,
    private readonly rowsPerPart: number,
  ) {}

  async start(plans: readonly OutputPlan[]): Promise<void> {
    this.columns = plans.flatMap((p) => p.columns);
    this.appender = await TableAppender.create(this.db, "predictions", this.columns);
  }

  async append(rows: number, values: ColumnValues[]): Promise<void> {
    (this.appender as TableAppender).append(rows, values);
    this.rows += rows;
    if (this.rows >= this.rowsPerPart) await this.cut(true);
  }

  /** Writes the current part (also an empty one, when there is no other: it carries the columns). */
  async finish(): Promise<string[]> {
    if (this.rows > 0 || this.files.length === 0) await this.cut(false);
    else this.appender?.close();
    await this.db.run("DROP TABLE IF EXISTS predictions");
    return this.files;
  }

  close(): void {
    this.appender?.close();
  }

  private async cut(again: boolean): Promise<void> {
    (this.appender as TableAppender).close();
    const file = join(this.dir, `part-${String(this.files.length + 1).padStart(6, "0")}.parquet`);
    await this.db.run(`COPY predictions TO ${lit(file)} (FORMAT parquet)`);
    this.files.push(file);
    this.rows = 0;
    if (again) this.appender = await TableAppender.create(this.db, "predictions", this.columns);
  }
}

