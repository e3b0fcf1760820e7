/**
 * Checks a feature view's batch source file against the view: the timestamp columns exist and
 * hold timestamps, the join keys and features exist (after field mapping) with types that fit
 * their declared ones. Every failure names the file and the column.
 */
import { existsSync } from "node:fs";
import { FlywheelError } from "../core/errors.js";
import { quoteIdentifier as qi, readFileSql, type ColumnInfo, type OfflineDb } from "../storage/offline/duckdb.js";
import type { FeatureRepo, FeatureViewDef, FileSourceDef, ScalarType, ValueType } from "./definitions.js";
import { batchSourceOf, joinKeysOf } from "./validate.js";

const INT = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/;
const FLOAT = /^(FLOAT|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?)$/;
const TIMESTAMP = /^(TIMESTAMP( WITH TIME ZONE)?|TIMESTAMP_(S|MS|NS)|TIMESTAMPTZ|DATE)$/;

function scalarFits(dtype: ScalarType, duck: string): boolean {
  switch (dtype) {
    case "Int32":
    case "Int64":
      return INT.test(duck);
    case "Float32":
    case "Float64":
      return FLOAT.test(duck) || INT.test(duck);
    case "String":
      return duck === "VARCHAR";
    case "Bytes":
      return duck === "BLOB" || duck === "VARCHAR";
    case "Bool":
      return duck === "BOOLEAN";
    case "UnixTimestamp":
      return TIMESTAMP.test(duck) || INT.test(duck);
  }
}

export function typeFits(dtype: ValueType, duck: string): boolean {
  const m = /^Array\((\w+)\)$/.exec(dtype);
  if (m !== null) return duck.endsWith("[]") && scalarFits(m[1] as ScalarType, duck.slice(0, -2));
  return scalarFits(dtype as ScalarType, duck);
}

/** The DuckDB type a declared type is stored as (offline pushes, casts). */
export function duckTypeOf(dtype: ValueType): string {
  const m = /^Array\((\w+)\)$/.exec(dtype);
  if (m !== null) return `${duckTypeOf(m[1] as ValueType)}[]`;
  const map: Record<ScalarType, string> = {
    Int32: "INTEGER",
    Int64: "BIGINT",
    Float32: "FLOAT",
    Float64: "DOUBLE",
    String: "VARCHAR",
    Bytes: "BLOB",
    Bool: "BOOLEAN",
    UnixTimestamp: "TIMESTAMPTZ",
  };
  return map[dtype as ScalarType];
}

/** Source column name of a view column (the inverse of the field mapping). */
export function sourceColumn(source: FileSourceDef, column: string): string {
  for (const [from, to] of Object.entries(source.fieldMapping ?? {})) if (to === column) return from;
  return column;
}

/** True when the path (or, for a glob, its folder part) exists; a glob is left to DuckDB. */
export function sourceExists(source: FileSourceDef): boolean {
  return /[*?[]/.test(source.path) || existsSync(source.path);
}

/** `column` is the display form: `'ts'`, or `'conv' (mapped to 'conv_rate')`. */
function err(source: FileSourceDef, column: string, field: string, rule: string): FlywheelError {
  return new FlywheelError("FW_REQUEST_INVALID_FIELD", `Source file '${source.path}' (source '${source.name}'): column ${column} ${rule}`, {
    details: { field, file: source.path },
  });
}

/**
 * Reads the source's columns (no rows) and checks them against the view. `columns` may be given
 * when already known.
 */
export async function checkSourceFile(db: OfflineDb, repo: FeatureRepo, view: FeatureViewDef, columns?: ColumnInfo[]): Promise<void> {
  const source = batchSourceOf(repo, view);
  if (source === undefined) return;
  let cols = columns;
  if (cols === undefined) {
    try {
      cols = await db.describe(readFileSql(source.path, source.format));
    } catch (e) {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Source file '${source.path}' (source '${source.name}') cannot be read: ${(e as Error).message}`, {
        details: { field: "path", file: source.path },
      });
    }
  }
  const types = new Map(cols.map((c) => [c.name, c.type]));
  const need = (column: string, what: string, fits: (t: string) => boolean, expected: string): void => {
    const src = sourceColumn(source, column);
    const t = types.get(src);
    const label = src === column ? `'${column}'` : `'${src}' (mapped to '${column}')`;
    if (t === undefined) throw err(source, label, src, `is missing: it is the ${what} (columns: ${[...types.keys()].join(", ")})`);
    if (!fits(t)) throw err(source, label, src, `has type ${t}, but the ${what} needs ${expected}`);
  };
  need(source.timestampField, "timestamp field", (t) => TIMESTAMP.test(t), "a timestamp or date");
  if (source.createdTimestampColumn !== undefined) need(source.createdTimestampColumn, "created timestamp column", (t) => TIMESTAMP.test(t), "a timestamp or date");
  const entityTypes = new Map(repo.entities.flatMap((e) => e.joinKeys.map((k) => [k, e.valueType] as const)));
  for (const key of joinKeysOf(repo, view)) {
    const vt = entityTypes.get(key) ?? "String";
    need(key, `join key of view '${view.name}'`, (t) => typeFits(vt, t), vt);
  }
  const keys = new Set(joinKeysOf(repo, view));
  for (const f of view.schema) {
    if (keys.has(f.name)) continue;
    need(f.name, `feature '${view.name}:${f.name}' (${f.dtype})`, (t) => typeFits(f.dtype, t), f.dtype);
  }
}

/** `SELECT` list that renames a source's columns to the view's names (field mapping applied). */
export function mappedColumnsSql(source: FileSourceDef, columns: readonly string[]): string {
  return columns.map((c) => {
    const src = sourceColumn(source, c);
    return src === c ? qi(c) : `${qi(src)} AS ${qi(c)}`;
  }).join(", ");
}
