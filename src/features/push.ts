/**
 * Pushing rows (Feast's `push` and `write_to_online_store`): columnar rows are checked against
 * the definitions in full before anything is written, then go to the online store (newer rows
 * win) and/or are appended to the offline history as a new Parquet file that historical
 * retrieval and materialization read together with the batch source.
 */
import { randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { quoteIdentifier as qi, quoteLiteral, type OfflineDb } from "../storage/offline/duckdb.js";
import type { OnlineWriteRow } from "../storage/online/online-store.js";
import type { FeatureRepo, FeatureViewDef, FileSourceDef, PushSourceDef } from "./definitions.js";
import { FeatureStoreError } from "./errors.js";
import { duckTypeOf, sourceColumn } from "./source-check.js";
import { batchSourceOf, featuresOf, joinKeysOf } from "./validate.js";
import { checkEntityValue, checkFeatureValue, parseTimestamp } from "./values.js";

export type PushTarget = "online" | "offline" | "online_and_offline";
export const PUSH_TARGETS: readonly PushTarget[] = ["online", "offline", "online_and_offline"];

export type Columns = Readonly<Record<string, readonly unknown[]>>;

/** Most rows one push may carry. */
export const MAX_PUSH_ROWS = 100_000;

function rowCount(df: Columns, field: string): number {
  if (typeof df !== "object" || df === null || Array.isArray(df)) throw new FeatureStoreError(field, `'${field}' must be a mapping of column name to a list of values`);
  let n = -1;
  let first = "";
  for (const [name, values] of Object.entries(df)) {
    if (!Array.isArray(values)) throw new FeatureStoreError(`${field}.${name}`, `'${field}.${name}' must be a list of values`);
    if (n === -1) {
      n = values.length;
      first = name;
    } else if (values.length !== n) {
      throw new FeatureStoreError(`${field}.${name}`, `Every column of '${field}' must have the same length: '${first}' has ${n} values, '${name}' has ${values.length}`);
    }
  }
  if (n <= 0) throw new FeatureStoreError(field, `'${field}' must hold at least one row`);
  if (n > MAX_PUSH_ROWS) throw new FeatureStoreError(field, `At most ${MAX_PUSH_ROWS} rows per push (got ${n})`);
  return n;
}

/** The rows of `df` for one view, checked: join keys, timestamps and every feature. */
export function onlineRows(repo: FeatureRepo, view: FeatureViewDef, df: Columns, field = "df"): OnlineWriteRow[] {
  const n = rowCount(df, field);
  const batch = batchSourceOf(repo, view) as FileSourceDef;
  const keys = joinKeysOf(repo, view);
  const features = featuresOf(repo, view);
  const types = new Map(view.schema.map((f) => [f.name, f.dtype]));
  const entityType = new Map(repo.entities.flatMap((e) => e.joinKeys.map((k) => [k, e.valueType] as const)));
  const missing = [...keys, batch.timestampField, ...features].filter((c) => df[c] === undefined);
  if (missing.length > 0) {
    throw new FeatureStoreError(field, `'${field}' is missing column(s) ${missing.map((m) => `'${m}'`).join(", ")} of feature view '${view.name}'`);
  }
  const rows: OnlineWriteRow[] = [];
  for (let i = 0; i < n; i++) {
    const entityKey: Record<string, string | number> = {};
    for (const k of keys) entityKey[k] = checkEntityValue((df[k] as unknown[])[i], entityType.get(k) ?? "String", `${field}.${k}`);
    const values: Record<string, unknown> = {};
    for (const f of features) values[f] = checkFeatureValue((df[f] as unknown[])[i], types.get(f) as string, `${field}.${f}`);
    const row: OnlineWriteRow = { entityKey, values, eventTs: parseTimestamp((df[batch.timestampField] as unknown[])[i], `${field}.${batch.timestampField}[${i}]`) };
    const created = batch.createdTimestampColumn !== undefined ? df[batch.createdTimestampColumn]?.[i] : undefined;
    if (created !== undefined && created !== null) row.createdTs = parseTimestamp(created, `${field}.${batch.createdTimestampColumn}[${i}]`);
    rows.push(row);
  }
  return rows;
}

export function pushSource(repo: FeatureRepo, name: unknown): PushSourceDef {
  const s = repo.sources.find((x) => x.name === name);
  if (s?.kind !== "push_source") {
    const valid = repo.sources.filter((x) => x.kind === "push_source").map((x) => `'${x.name}'`).join(", ") || "(none)";
    throw new FeatureStoreError("push_source_name", `Unknown push source '${String(name)}'; valid push sources: ${valid}`);
  }
  return s;
}

export function viewsOfPushSource(repo: FeatureRepo, source: PushSourceDef): FeatureViewDef[] {
  return repo.featureViews.filter((v) => v.source === source.name);
}

/** The folder offline pushes of a push source are appended to. */
export function pushFolder(offlineDir: string, project: string, source: string): string {
  return join(offlineDir, project, source);
}

/** The Parquet files offline pushes appended to a view's push source, oldest first (none for a file source). */
export function appendedFiles(offlineDir: string, project: string, repo: FeatureRepo, view: FeatureViewDef): string[] {
  const source = repo.sources.find((s) => s.name === view.source);
  if (source?.kind !== "push_source") return [];
  const folder = pushFolder(offlineDir, project, source.name);
  try {
    return readdirSync(folder)
      .filter((f) => f.endsWith(".parquet") && !f.startsWith("."))
      .sort()
      .map((f) => join(folder, f));
  } catch {
    return [];
  }
}

/**
 * Appends the pushed rows to the push source's offline history as one Parquet file, with the
 * batch source's column names and the declared types. Returns the file written.
 */
export async function appendOffline(
  db: OfflineDb,
  repo: FeatureRepo,
  source: PushSourceDef,
  df: Columns,
  folder: string,
  fileName = `push-${Date.now()}-${randomUUID()}.parquet`,
): Promise<string> {
  rowCount(df, "df");
  const batch = repo.sources.find((s) => s.name === source.batchSource) as FileSourceDef;
  const views = viewsOfPushSource(repo, source);
  // Every column the views read, with its declared type (timestamps as TIMESTAMPTZ).
  const columns = new Map<string, string>();
  const entityType = new Map(repo.entities.flatMap((e) => e.joinKeys.map((k) => [k, e.valueType] as const)));
  for (const v of views) {
    for (const k of joinKeysOf(repo, v)) columns.set(k, duckTypeOf(entityType.get(k) ?? "String"));
    for (const f of v.schema) if (!columns.has(f.name)) columns.set(f.name, duckTypeOf(f.dtype));
  }
  columns.set(batch.timestampField, "TIMESTAMPTZ");
  if (batch.createdTimestampColumn !== undefined && df[batch.createdTimestampColumn] !== undefined) columns.set(batch.createdTimestampColumn, "TIMESTAMPTZ");
  const missing = [...columns.keys()].filter((c) => df[c] === undefined && c !== batch.createdTimestampColumn);
  if (missing.length > 0) throw new FeatureStoreError("df", `'df' is missing column(s) ${missing.map((m) => `'${m}'`).join(", ")} of push source '${source.name}'`);
  // Checked and normalized first (timestamps to ISO strings), so the file is all or nothing.
  const n = (Object.values(df)[0] as unknown[]).length;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const row: Record<string, unknown> = {};
    for (const [c, type] of columns) {
      const v = (df[c] as unknown[])[i];
      if (type === "TIMESTAMPTZ") row[c] = v === null || v === undefined ? null : new Date(parseTimestamp(v, `df.${c}[${i}]`)).toISOString();
      else if (entityType.has(c) && joinKeyOfAny(repo, views, c)) row[c] = checkEntityValue(v, entityType.get(c) ?? "String", `df.${c}`);
      else row[c] = checkFeatureValue(v, dtypeOf(views, c), `df.${c}`);
    }
    lines.push(JSON.stringify(row, (_k, x: unknown) => (typeof x === "number" && !Number.isFinite(x) ? String(x) : x)));
  }
  await mkdir(folder, { recursive: true });
  const tmpJson = join(folder, `.${fileName}.ndjson`);
  const tmpParquet = join(folder, `.${fileName}.tmp`);
  const out = join(folder, fileName);
  try {
    await writeFile(tmpJson, lines.join("\n") + "\n");
    const schema = [...columns].map(([c, t]) => `${quoteLiteral(c)}: ${quoteLiteral(t === "TIMESTAMPTZ" ? "VARCHAR" : t)}`).join(", ");
    const select = [...columns]
      .map(([c, t]) => `CAST(${qi(c)} AS ${t}) AS ${qi(sourceColumn(batch, c))}`)
      .join(", ");
    await db.run(
      `COPY (SELECT ${select} FROM read_json(${quoteLiteral(tmpJson)}, format = 'newline_delimited', columns = {${schema}})) ` +
        `TO ${quoteLiteral(tmpParquet)} (FORMAT parquet)`,
    );
    await rename(tmpParquet, out);
  } finally {
    await rm(tmpJson, { force: true });
    await rm(tmpParquet, { force: true });
  }
  return out;
}

function joinKeyOfAny(repo: FeatureRepo, views: FeatureViewDef[], column: string): boolean {
  return views.some((v) => joinKeysOf(repo, v).includes(column));
}

function dtypeOf(views: FeatureViewDef[], column: string): string {
  for (const v of views) {
    const f = v.schema.find((x) => x.name === column);
    if (f !== undefined) return f.dtype;
  }
  return "String";
}
