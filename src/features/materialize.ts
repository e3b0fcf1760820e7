/**
 * Materialization: the latest row per entity whose event timestamp lies in [start, end) is
 * written to the online store, for each online feature view. Ties on the event timestamp go to
 * the latest created timestamp, as in historical retrieval.
 *
 * The whole selection is computed into a DuckDB temporary table first, so a bad source (missing
 * or mistyped column, unreadable file) fails before anything is written. Rows are then written in
 * chunks; the online store keeps the newer of a stored and a written row, so a retry after a
 * failure part-way completes the job without ever replacing newer values with older ones. The
 * interval is recorded only after every row is written.
 */
import { randomUUID } from "node:crypto";
import { FlywheelError } from "../core/errors.js";
import { quoteIdentifier as qi, quoteLiteral, readFileSql, type OfflineDb } from "../storage/offline/duckdb.js";
import type { OnlineStore, OnlineWriteRow } from "../storage/online/online-store.js";
import type { FeatureRepo, FeatureViewDef, FileSourceDef } from "./definitions.js";
import { checkSourceFile, mappedColumnsSql, sourceColumn } from "./source-check.js";
import { batchSourceOf, featuresOf, joinKeysOf } from "./validate.js";
import { toEntityValue, toFeatureValue } from "./values.js";

export interface MaterializeProgress {
  view: string;
  done: number;
  total: number;
}

export interface ViewMaterialization {
  view: string;
  startTs: number;
  endTs: number;
  rows: number;
}

/** A source relation: the batch file, plus Parquet files appended by offline pushes. */
export function sourceRelationSql(source: FileSourceDef, appended: readonly string[]): string {
  const base = `SELECT * FROM ${readFileSql(source.path, source.format)}`;
  if (appended.length === 0) return `(${base})`;
  const files = `[${appended.map((f) => quoteLiteral(f)).join(", ")}]`;
  return `(${base} UNION ALL BY NAME SELECT * FROM read_parquet(${files}, union_by_name = true))`;
}

const CHUNK = 2048;

export async function materializeView(
  db: OfflineDb,
  online: OnlineStore,
  repo: FeatureRepo,
  view: FeatureViewDef,
  window: { startTs: number; endTs: number },
  appended: readonly string[],
  onProgress?: (p: MaterializeProgress) => void,
): Promise<ViewMaterialization> {
  const source = batchSourceOf(repo, view);
  if (source === undefined) throw new FlywheelError("FW_INTERNAL", `Feature view '${view.name}' has no file source`);
  await checkSourceFile(db, repo, view);
  const keys = joinKeysOf(repo, view);
  const features = featuresOf(repo, view);
  const ts = sourceColumn(source, source.timestampField);
  const created = source.createdTimestampColumn !== undefined ? sourceColumn(source, source.createdTimestampColumn) : undefined;
  const table = `__fw_mat_${randomUUID().replaceAll("-", "")}`;
  const partition = keys.map((k) => qi(k)).join(", ");
  const order = `__fw_ets DESC${created !== undefined ? ", __fw_cts DESC NULLS LAST" : ""}`;
  const select =
    `SELECT ${mappedColumnsSql(source, [...keys, ...features])}, CAST(${qi(ts)} AS TIMESTAMPTZ) AS __fw_ets` +
    (created !== undefined ? `, CAST(${qi(created)} AS TIMESTAMPTZ) AS __fw_cts` : "") +
    ` FROM ${sourceRelationSql(source, appended)}`;
  const start = new Date(window.startTs).toISOString();
  const end = new Date(window.endTs).toISOString();
  await db.run(
    `CREATE TEMP TABLE ${table} AS SELECT * FROM (${select}) ` +
      `WHERE __fw_ets >= TIMESTAMPTZ ${quoteLiteral(start)} AND __fw_ets < TIMESTAMPTZ ${quoteLiteral(end)} ` +
      keys.map((k) => `AND ${qi(k)} IS NOT NULL `).join("") +
      `QUALIFY row_number() OVER (PARTITION BY ${partition} ORDER BY ${order}) = 1`,
  );
  try {
    const countRows = await db.query(`SELECT count(*) AS n FROM ${table}`);
    const total = Number(countRows[0]?.n ?? 0);
    let done = 0;
    onProgress?.({ view: view.name, done, total });
    let batch: OnlineWriteRow[] = [];
    for await (const rows of db.streamObjects(`SELECT * FROM ${table}`)) {
      for (const r of rows) {
        const entityKey: Record<string, string | number> = {};
        for (const k of keys) entityKey[k] = toEntityValue(r[k], k);
        const values: Record<string, unknown> = {};
        for (const f of features) values[f] = toFeatureValue(r[f]);
        const row: OnlineWriteRow = { entityKey, values, eventTs: (r.__fw_ets as Date).getTime() };
        if (created !== undefined && r.__fw_cts instanceof Date) row.createdTs = r.__fw_cts.getTime();
        batch.push(row);
      }
      if (batch.length >= CHUNK) {
        await online.write(view.name, batch);
        done += batch.length;
        batch = [];
        onProgress?.({ view: view.name, done, total });
      }
    }
    if (batch.length > 0) {
      await online.write(view.name, batch);
      done += batch.length;
      onProgress?.({ view: view.name, done, total });
    }
    return { view: view.name, startTs: window.startTs, endTs: window.endTs, rows: done };
  } finally {
    await db.run(`DROP TABLE IF EXISTS ${table}`);
  }
}
