/**
 * Rolls sealed NDJSON segments into hourly Parquet partitions with DuckDB, idempotently: the
 * Parquet file rolled from segment S is `<partition>/<S>.parquet`, written to a hidden temporary
 * file, fsync'd and renamed into place, and only then is S removed. A crash at any point leaves
 * either S (rolled again, to the same names) or its Parquet files, never both counted: readers
 * skip Parquet files named after a segment that still exists. Torn or corrupt lines (a crash in
 * the middle of a write) are skipped.
 *
 * Column types come from the records themselves, per model and hour (structure.ts). Memory stays
 * bounded whatever the segment's size: the types are found from distinct record structures, and
 * each partition is written by a streaming COPY. When the process that wrote the segment rolls it,
 * the structures its encoder noted (the hints) stand in for reading them from the records, which
 * costs several times the COPY itself.
 */
import { mkdir, rename, rm, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type OfflineDb, quoteLiteral } from "../../storage/offline/duckdb.js";
import { hourDir, partitionValue, segmentId, syncDir, syncFile } from "./segment-files.js";
import type { HintGroup } from "./entry-log.js";
import { Merged, groupStructures, type Structure, type StructureGroup } from "./structure.js";

/**
 * The DuckDB the log rolls with: one thread and a memory limit, so rolling never competes with
 * serving for more than a core and a bounded share of RAM, whatever the size of a segment. Row
 * order is not preserved, so the Parquet writer may close a row group by size (`ROW_GROUP_SIZE_BYTES`):
 * with the default of 122 880 rows a group of wide rows (hundreds of columns, long lists) filled
 * the memory limit and spilled. Nothing relies on the order of rows within a file: the reader sorts.
 */
export const ROLL_DB_OPTIONS = { threads: 1, memoryLimit: "512MB", preserveInsertionOrder: false } as const;

/** Largest Parquet row group a roll buffers before writing it out. */
const ROW_GROUP_BYTES = "16MB";

export function segmentSource(paths: readonly string[]): string {
  return `read_json_objects([${paths.map(quoteLiteral).join(", ")}], format = 'newline_delimited', ignore_errors = true)`;
}

/** `YYYY-MM-DD/HH` (UTC) of a timestamp field of the records. */
export function hourExpr(field: string): string {
  return `strftime(date_trunc('hour', TRY_CAST((json->>${quoteLiteral(field)}) AS TIMESTAMPTZ)), '%Y-%m-%d/%H')`;
}

/** `SELECT` of records typed by `structure` (one column per key). */
export function typedSelect(source: string, structure: Structure, where: string): string {
  return `SELECT unnest(json_transform(json, ${quoteLiteral(JSON.stringify(structure))})) FROM ${source} WHERE json IS NOT NULL AND (${where})`;
}

/**
 * `typedSelect` for one partition of a roll: the records are filtered into a materialized CTE
 * first and typed from it. In one pipeline, the filter's JSON extractions and `json_transform`
 * over wide records (1024-value lists, 8 KB a line) ran out of a 512 MB limit on a 76 MB segment;
 * apart, they do not.
 */
function partitionSelect(source: string, structure: Structure, where: string): string {
  return `WITH part AS MATERIALIZED (SELECT json FROM ${source} WHERE json IS NOT NULL AND (${where})) SELECT unnest(json_transform(json, ${quoteLiteral(JSON.stringify(structure))})) FROM part`;
}

export interface RollSpec {
  /** Where Parquet partitions go. */
  parquetRoot: string;
  /** The record field whose hour partitions the Parquet files. */
  timeField: string;
  /** Columns with a fixed type. */
  fixed: Readonly<Record<string, string>>;
  /** When true the records carry `model` and each model gets its own `model=<name>` directory. */
  byModel: boolean;
  /** Types come only from `fixed` (other fields are dropped) rather than from the records. */
  fixedOnly?: boolean;
}

/** The groups of a segment as its writer's hints describe them, in the order `groupStructures` lists them. */
function hintedGroups(hints: readonly HintGroup[], fixed: Readonly<Record<string, string>>): StructureGroup[] {
  const sorted = [...hints].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : a.hour < b.hour ? -1 : a.hour > b.hour ? 1 : 0));
  return sorted.map((h) => {
    const merged = new Merged();
    for (const part of h.parts) merged.addKinds(part);
    return { key: [h.model, h.hour], structure: merged.structure(fixed) };
  });
}

/**
 * Rolls one sealed segment into Parquet and removes it; returns the Parquet files written. `db` is
 * opened with ROLL_DB_OPTIONS. `hints`: the (model, hour) groups and structures of every row in
 * the segment, from its writer (only with `byModel`).
 */
export async function rollSegment(db: OfflineDb, segmentPath: string, spec: RollSpec, hints?: readonly HintGroup[]): Promise<string[]> {
  const id = segmentId(basename(segmentPath));
  const source = segmentSource([segmentPath]);
  const hour = hourExpr(spec.timeField);
  const model = spec.byModel ? "(json->>'model')" : "NULL";
  const hinted = hints !== undefined && spec.byModel && spec.fixedOnly !== true;
  const groups = hinted ? hintedGroups(hints, spec.fixed) : await groupStructures(db, source, { groupBy: [model, hour], fixed: spec.fixed, fixedOnly: spec.fixedOnly === true });
  const written: string[] = [];
  let copied = 0;
  for (const { key, structure } of groups) {
    const [m, h] = key;
    if (typeof h !== "string" || (spec.byModel && typeof m !== "string")) continue;
    const base = spec.byModel ? join(spec.parquetRoot, `model=${partitionValue(m as string)}`) : spec.parquetRoot;
    const dir = hourDir(base, h);
    await mkdir(dir, { recursive: true });
    const target = join(dir, `${id}.parquet`);
    const tmp = join(dir, `.${id}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    const where = `${hour} = ${quoteLiteral(h)}${spec.byModel ? ` AND (json->>'model') = ${quoteLiteral(m as string)}` : ""}`;
    try {
      const rows = await db.run(`COPY (${partitionSelect(source, structure, where)}) TO ${quoteLiteral(tmp)} (FORMAT parquet, ROW_GROUP_SIZE_BYTES ${quoteLiteral(ROW_GROUP_BYTES)})`);
      // A hinted group may have no rows (a group whose write failed part way): no file for it.
      copied += rows;
      if (rows === 0 && hinted) {
        await rm(tmp, { force: true });
        continue;
      }
      await syncFile(tmp);
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    await syncDir(dir);
    written.push(target);
  }
  if (hinted) {
    // Every record must be in some hinted group before the segment goes: one that is not (the
    // hints missed it) sends the segment down the reading path, which rewrites the same files.
    const [{ n } = { n: -1 }] = await db.query(`SELECT count(*)::BIGINT AS n FROM ${source} WHERE json IS NOT NULL`);
    if (Number(n) !== copied) return rollSegment(db, segmentPath, spec);
  }
  await unlink(segmentPath).catch((e: NodeJS.ErrnoException) => {
    // Another process rolled and removed it first: its files have the same names and contents.
    if (e.code !== "ENOENT") throw e;
  });
  await syncDir(dirname(segmentPath));
  return written;
}
