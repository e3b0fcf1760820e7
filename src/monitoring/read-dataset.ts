/**
 * Reads a Parquet or CSV file into drift columns through DuckDB: numeric columns (integers,
 * decimals, floats) become Float64Arrays streamed chunk by chunk (NULL as NaN); text, boolean,
 * enum and UUID columns become category counts computed by DuckDB with a GROUP BY, so only the
 * counts cross into JavaScript. Other types (dates, timestamps, lists, structs, blobs) are listed
 * as unsupported. A CSV file is parsed once into a temporary table.
 */
import { stat } from "node:fs/promises";
import { extname } from "node:path";
import { FlywheelError } from "../core/errors.js";
import { OfflineDb, quoteIdentifier, readFileSql, type ColumnInfo, type FileFormat } from "../storage/offline/duckdb.js";
import type { ColumnKind, Dataset, RawColumn } from "./dataset.js";

export interface ReadDatasetOptions {
  /** Read these columns as this kind (a numeric column may be read as categories). */
  readonly kinds?: ReadonlyMap<string, ColumnKind>;
  /** Only these columns (default: all). Names not in the file are skipped. */
  readonly columns?: readonly string[];
  /** DuckDB worker threads (default: DuckDB's). */
  readonly threads?: number;
}

const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|REAL|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?)$/;
const CATEGORICAL = /^(VARCHAR|BOOLEAN|UUID|ENUM\(.*\))$/s;

/** The drift kind of a DuckDB column type, or undefined when drift cannot use it. */
export function kindOfType(type: string): ColumnKind | undefined {
  if (NUMERIC.test(type)) return "numerical";
  if (CATEGORICAL.test(type)) return "categorical";
  return undefined;
}

/** Parquet for .parquet/.pq, CSV for .csv/.tsv/.txt; anything else is an error naming the file. */
export function fileFormatOf(path: string): FileFormat {
  const ext = extname(path).toLowerCase();
  if (ext === ".parquet" || ext === ".pq") return "parquet";
  if (ext === ".csv" || ext === ".tsv" || ext === ".txt") return "csv";
  throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `${path}: unknown file type '${ext}'; expected .parquet or .csv`);
}

async function mustExist(path: string): Promise<void> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error("not a file");
  } catch {
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `${path}: no such file`);
  }
}

/** The columns of a file and their DuckDB types, without reading the rows. */
export async function describeFile(path: string): Promise<ColumnInfo[]> {
  const format = fileFormatOf(path);
  await mustExist(path);
  const db = await OfflineDb.open({ threads: 1 });
  try {
    return await db.describe(readFileSql(path, format));
  } catch (e) {
    throw unreadable(path, e);
  } finally {
    db.close();
  }
}

function unreadable(path: string, e: unknown): FlywheelError {
  if (e instanceof FlywheelError && e.status < 500) return e;
  const cause = e instanceof FlywheelError && e.cause instanceof Error ? e.cause.message : e instanceof Error ? e.message : String(e);
  return new FlywheelError("FW_REQUEST_INVALID_FIELD", `${path}: cannot be read as ${fileFormatOf(path)}: ${cause}`, { cause: e });
}

/** Reads a Parquet or CSV file into a Dataset. */
export async function readDataset(path: string, options: ReadDatasetOptions = {}): Promise<Dataset> {
  const format = fileFormatOf(path);
  await mustExist(path);
  const db = await OfflineDb.open(options.threads === undefined ? {} : { threads: options.threads });
  try {
    let source = readFileSql(path, format);
    let info: ColumnInfo[];
    try {
      info = await db.describe(source);
      if (format === "csv") {
        await db.run(`CREATE TEMP TABLE src AS SELECT * FROM ${source}`);
        source = "src";
      }
    } catch (e) {
      throw unreadable(path, e);
    }
    const wanted = options.columns === undefined ? undefined : new Set(options.columns);
    const numeric: ColumnInfo[] = [];
    const categorical: ColumnInfo[] = [];
    const unsupported = new Map<string, string>();
    for (const c of info) {
      if (wanted !== undefined && !wanted.has(c.name)) continue;
      const natural = kindOfType(c.type);
      if (natural === undefined) unsupported.set(c.name, c.type);
      else if (natural === "numerical" && options.kinds?.get(c.name) !== "categorical") numeric.push(c);
      else categorical.push(c);
    }
    const countRows = await db.query(`SELECT count(*) AS n FROM ${source}`);
    const rows = Number(countRows[0]?.n ?? 0);
    const columns = new Map<string, RawColumn>();
    for (const [name, values] of await readNumeric(db, source, numeric, rows)) columns.set(name, { kind: "numerical", values });
    for (const c of categorical) columns.set(c.name, await readCategories(db, source, c.name));
    // Keep the file's column order.
    const ordered = new Map<string, RawColumn>();
    for (const c of info) {
      const col = columns.get(c.name);
      if (col !== undefined) ordered.set(c.name, col);
    }
    return { rows, columns: ordered, unsupported };
  } finally {
    db.close();
  }
}

async function readNumeric(db: OfflineDb, source: string, cols: ColumnInfo[], rows: number): Promise<Map<string, Float64Array>> {
  const out = new Map<string, Float64Array>();
  if (cols.length === 0) return out;
  const arrays = cols.map(() => new Float64Array(rows));
  const select = cols.map((c) => `CAST(${quoteIdentifier(c.name)} AS DOUBLE)`).join(", ");
  const result = await db.stream(`SELECT ${select} FROM ${source}`);
  let offset = 0;
  for (let chunk = await result.next(); chunk !== null; chunk = await result.next()) {
    const n = chunk.rowCount;
    for (let j = 0; j < cols.length; j++) {
      const vec = chunk.getColumnVector(j);
      const a = arrays[j] as Float64Array;
      for (let i = 0; i < n; i++) {
        const v = vec.getItem(i);
        a[offset + i] = v === null ? Number.NaN : (v as number);
      }
    }
    offset += n;
  }
  cols.forEach((c, j) => out.set(c.name, offset === rows ? (arrays[j] as Float64Array) : (arrays[j] as Float64Array).subarray(0, offset)));
  return out;
}

async function readCategories(db: OfflineDb, source: string, name: string): Promise<RawColumn> {
  const q = quoteIdentifier(name);
  const rows = await db.query(`SELECT CAST(${q} AS VARCHAR) AS k, count(*) AS n FROM ${source} GROUP BY 1`);
  const counts = new Map<string, number>();
  let missing = 0;
  for (const r of rows) {
    const n = Number(r.n);
    if (r.k === null || r.k === undefined) missing += n;
    else counts.set(String(r.k), n);
  }
  return { kind: "categorical", counts, missing };
}
