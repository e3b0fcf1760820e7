/**
 * The table files batch scoring reads and writes (Parquet, CSV, newline-delimited JSON): the
 * format a path names by its extension, the DuckDB table function that reads it, and the COPY
 * options that write it.
 */
import { FlywheelError } from "../core/errors.js";
import { quoteLiteral, readFileSql } from "../storage/offline/duckdb.js";

export type TableFormat = "parquet" | "csv" | "ndjson";

export const TABLE_FORMATS: readonly TableFormat[] = ["parquet", "csv", "ndjson"];

const EXTENSIONS: Readonly<Record<string, TableFormat>> = {
  ".parquet": "parquet",
  ".pq": "parquet",
  ".csv": "csv",
  ".ndjson": "ndjson",
  ".jsonl": "ndjson",
};

/** `.parquet`/`.pq`, `.csv`, `.ndjson`/`.jsonl` (CSV and NDJSON also with `.gz`, which DuckDB reads and writes compressed). */
export function formatOfPath(path: string): TableFormat | undefined {
  const lower = path.toLowerCase();
  const base = lower.endsWith(".gz") ? lower.slice(0, -3) : lower;
  const dot = base.lastIndexOf(".");
  if (dot === -1 || base.lastIndexOf("/") > dot) return undefined;
  const format = EXTENSIONS[base.slice(dot)];
  // Parquet compresses inside the file; a gzipped Parquet file is not something DuckDB reads.
  if (format === "parquet" && base !== lower) return undefined;
  return format;
}

/** A `--format` value, or undefined when it names none. */
export function parseTableFormat(value: string): TableFormat | undefined {
  const v = value.trim().toLowerCase();
  if (v === "jsonl" || v === "json") return "ndjson";
  return TABLE_FORMATS.find((f) => f === v);
}

/**
 * The format of `path`: `explicit` when given, else the one its extension names. `role` names the
 * file and `flag` the option that overrides the extension in the message, e.g. "output file
 * 'out.txt' has no known extension (.parquet, .pq, .csv, .ndjson, .jsonl); pass --format".
 */
export function resolveFormat(path: string, explicit: TableFormat | undefined, role: string, flag: string): TableFormat {
  if (explicit !== undefined) return explicit;
  const format = formatOfPath(path);
  if (format === undefined) {
    throw new FlywheelError(
      "FW_REQUEST_INVALID_FIELD",
      `${role} '${path}' has no known extension (${Object.keys(EXTENSIONS).join(", ")}); pass ${flag} ${TABLE_FORMATS.join("|")}`,
    );
  }
  return format;
}

/** The DuckDB table function that reads `path` (a file or a glob). CSV needs a header line. */
export function readTableSql(path: string, format: TableFormat): string {
  switch (format) {
    case "parquet":
    case "csv":
      return readFileSql(path, format);
    case "ndjson":
      return `read_json(${quoteLiteral(path)}, format = 'newline_delimited')`;
  }
}

/**
 * The options of `COPY ... TO` for `format`. Parquet carries `metadata` as key-value metadata in
 * its footer; CSV gets a header line; JSON is written one object per line.
 */
export function copyOptionsSql(format: TableFormat, metadata: Readonly<Record<string, string>>): string {
  switch (format) {
    case "parquet": {
      const kv = Object.entries(metadata).map(([k, v]) => `${quoteLiteral(k)}: ${quoteLiteral(v)}`);
      return kv.length === 0 ? "(FORMAT parquet)" : `(FORMAT parquet, KV_METADATA {${kv.join(", ")}})`;
    }
    case "csv":
      return "(FORMAT csv, HEADER true)";
    case "ndjson":
      return "(FORMAT json)";
  }
}
