/**
 * Reads the inference log back for monitoring and inspection: a model's rows in a time window,
 * from the hourly Parquet files and the segments not yet rolled (DuckDB over both), with the
 * latest label for each (request id, row) joined. A segment rolled while it is being read is
 * read again from its Parquet files, so a row is never missed or counted twice.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { OfflineDb, duckdbMessage, quoteIdentifier, quoteLiteral, type ColumnInfo } from "../../storage/offline/duckdb.js";
import { LABEL_COLUMNS } from "./labels.js";
import { CORE_COLUMNS, INPUT_PREFIX, OUTPUT_PREFIX, PROBA_PREFIX } from "./log-record.js";
import { segmentSource, typedSelect } from "./roller.js";
import { listSegments, partitionValue, segmentId } from "./segment-files.js";
import { groupStructures } from "./structure.js";

export interface LogPaths {
  inferenceSegments: string;
  inferenceParquet: string;
  labelSegments: string;
  labelParquet: string;
}

export function logPaths(dataDir: string): LogPaths {
  return {
    inferenceSegments: join(dataDir, "inference-log", "segments"),
    inferenceParquet: join(dataDir, "inference-log", "parquet"),
    labelSegments: join(dataDir, "labels", "segments"),
    labelParquet: join(dataDir, "labels", "parquet"),
  };
}

export interface LogWindow {
  model: string;
  /** Rows logged at or after this time. */
  since?: Date | undefined;
  /** Rows logged before this time. */
  until?: Date | undefined;
  /** Only this model version. */
  version?: string | undefined;
}

/** One logged row as the inspection API answers it. */
export interface LogRecord {
  request_id: string;
  row: number;
  timestamp: string;
  model: string;
  version: string;
  protocol: string;
  latency_ms: number;
  /** The traffic route the request took, when one routed it. */
  arm?: string;
  inputs: Record<string, unknown>;
  prediction?: unknown;
  probabilities?: Record<string, unknown>;
  outputs: Record<string, unknown>;
  features_from_store?: unknown;
  label?: unknown;
  label_timestamp?: string;
}

const HOUR_MS = 3_600_000;
/** Labels received this long before a window starts cannot be for its rows (allowing for clock skew). */
const LABEL_LOOKBACK_MS = 24 * HOUR_MS;
const ATTEMPTS = 4;

/** Parquet files under `root/date=*\/hour=*` whose hour overlaps [since, until), skipping hidden (in-progress) files. */
async function parquetFiles(root: string, since: Date | undefined, until: Date | undefined, skip: ReadonlySet<string>): Promise<string[]> {
  const files: string[] = [];
  for (const dateDir of await dirNames(root)) {
    const date = /^date=(\d{4}-\d{2}-\d{2})$/.exec(dateDir)?.[1];
    if (date === undefined) continue;
    for (const hourName of await dirNames(join(root, dateDir))) {
      const hh = /^hour=(\d{2})$/.exec(hourName)?.[1];
      if (hh === undefined) continue;
      const start = Date.parse(`${date}T${hh}:00:00Z`);
      if ((since !== undefined && start + HOUR_MS <= since.getTime()) || (until !== undefined && start >= until.getTime())) continue;
      const dir = join(root, dateDir, hourName);
      for (const f of await dirNames(dir)) {
        if (f.endsWith(".parquet") && !f.startsWith(".") && !skip.has(f.slice(0, -".parquet".length))) files.push(join(dir, f));
      }
    }
  }
  return files.sort();
}

async function dirNames(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
}

const tsLiteral = (d: Date) => `TIMESTAMPTZ ${quoteLiteral(d.toISOString())}`;

/** A file listed a moment ago was rolled (and removed) since: list again. */
function vanished(e: unknown): boolean {
  return /IO Error|No files found that match|No such file or directory/i.test(duckdbMessage(e));
}

export class InferenceLogReader {
  readonly paths: LogPaths;

  constructor(dataDir: string) {
    this.paths = logPaths(dataDir);
  }

  /**
   * Loads a window into the temporary table `table` of `db`: one row per logged input row (the
   * columns of log-record.ts), ordered by time, plus `label` (the latest label for the row, typed
   * like `prediction` when it can be) and `label_ts`.
   * @example await reader.load(db, { model: "churn", since: new Date(Date.now() - 3_600_000) });
   *          await db.query("SELECT avg((prediction = label)::INT) FROM inference_window WHERE label IS NOT NULL");
   */
  async load(db: OfflineDb, window: LogWindow, table = "inference_window"): Promise<{ table: string; rows: number; columns: ColumnInfo[] }> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.loadOnce(db, window, table);
        break;
      } catch (e) {
        if (attempt >= ATTEMPTS || !vanished(e)) throw e;
      }
    }
    const [count] = await db.query(`SELECT count(*)::INTEGER AS n FROM ${quoteIdentifier(table)}`);
    return { table, rows: Number(count?.n ?? 0), columns: await db.describe(quoteIdentifier(table)) };
  }

  /**
   * The most recent rows of a window (newest first), as plain objects with inputs, outputs and
   * probabilities grouped; null values are left out.
   */
  async records(window: LogWindow & { limit?: number }): Promise<LogRecord[]> {
    const db = await OfflineDb.open({ threads: 1 });
    try {
      await this.load(db, window, "inference_window");
      const rows = await db.query(`SELECT * FROM inference_window ORDER BY ts DESC, request_id, "row" LIMIT ${Math.max(0, Math.floor(window.limit ?? 100))}`);
      return rows.map(toRecord);
    } finally {
      db.close();
    }
  }

  private async loadOnce(db: OfflineDb, w: LogWindow, table: string): Promise<void> {
    // Segments first: a Parquet file named after a segment listed here is that segment, rolled meanwhile.
    const segments = (await listSegments(this.paths.inferenceSegments)).map((n) => join(this.paths.inferenceSegments, n));
    const live = new Set(segments.map((p) => segmentId(p.slice(p.lastIndexOf("/") + 1))));
    const files = await parquetFiles(join(this.paths.inferenceParquet, `model=${partitionValue(w.model)}`), w.since, w.until, live);
    const filters = [`model = ${quoteLiteral(w.model)}`];
    if (w.since !== undefined) filters.push(`ts >= ${tsLiteral(w.since)}`);
    if (w.until !== undefined) filters.push(`ts < ${tsLiteral(w.until)}`);
    if (w.version !== undefined) filters.push(`version = ${quoteLiteral(w.version)}`);
    const where = filters.join(" AND ");

    const parts: string[] = [];
    if (files.length > 0) parts.push(`SELECT * FROM read_parquet([${files.map(quoteLiteral).join(", ")}], union_by_name = true) WHERE ${where}`);
    if (segments.length > 0) {
      const source = segmentSource(segments);
      const isModel = `(json->>'model') = ${quoteLiteral(w.model)}`;
      const [detected] = await groupStructures(db, source, { groupBy: [], where: isModel, fixed: CORE_COLUMNS });
      if (detected !== undefined) parts.push(`SELECT * FROM (${typedSelect(source, detected.structure, isModel)}) WHERE ${where}`);
    }
    const log = quoteIdentifier(`${table}__log`);
    const labels = quoteIdentifier(`${table}__labels`);
    const core = Object.entries(CORE_COLUMNS).map(([c, t]) => `${quoteIdentifier(c)} ${t}`);
    await db.run(`DROP TABLE IF EXISTS ${log}`);
    await db.run(parts.length === 0 ? `CREATE TEMP TABLE ${log} (${core.join(", ")})` : `CREATE TEMP TABLE ${log} AS ${parts.join(" UNION ALL BY NAME ")}`);

    await db.run(`DROP TABLE IF EXISTS ${labels}`);
    await db.run(`CREATE TEMP TABLE ${labels} AS ${await this.labelsSql(log, w.since)}`);

    const predictionType = (await db.describe(log)).find((c) => c.name === "prediction")?.type;
    const text = `json_extract_string(b.label::JSON, '$')`;
    const label = predictionType === "DOUBLE" || predictionType === "BOOLEAN" ? `TRY_CAST(${text} AS ${predictionType})` : text;
    await db.run(`DROP TABLE IF EXISTS ${quoteIdentifier(table)}`);
    await db.run(
      `CREATE TEMP TABLE ${quoteIdentifier(table)} AS SELECT l.*, ${label} AS label, b.label_ts FROM ${log} l
       LEFT JOIN ${labels} b ON l.request_id = b.request_id AND l."row" = b."row" ORDER BY l.ts, l.request_id, l."row"`,
    );
    await db.run(`DROP TABLE ${log}; DROP TABLE ${labels}`);
  }

  /** The latest label per (request id, row) for the rows of `log`. */
  private async labelsSql(log: string, since: Date | undefined): Promise<string> {
    const segments = (await listSegments(this.paths.labelSegments)).map((n) => join(this.paths.labelSegments, n));
    const live = new Set(segments.map((p) => segmentId(p.slice(p.lastIndexOf("/") + 1))));
    const from = since === undefined ? undefined : new Date(since.getTime() - LABEL_LOOKBACK_MS);
    const files = await parquetFiles(this.paths.labelParquet, from, undefined, live);
    const cols = `request_id, "row", label::VARCHAR AS label, ts, received_us`;
    const parts = [`SELECT NULL::VARCHAR AS request_id, NULL::INTEGER AS "row", NULL::VARCHAR AS label, NULL::TIMESTAMPTZ AS ts, NULL::BIGINT AS received_us WHERE false`];
    if (files.length > 0) parts.push(`SELECT ${cols} FROM read_parquet([${files.map(quoteLiteral).join(", ")}], union_by_name = true)`);
    if (segments.length > 0) parts.push(`SELECT ${cols} FROM (${typedSelect(segmentSource(segments), { ...LABEL_COLUMNS }, "true")})`);
    return `SELECT request_id, "row", label, ts AS label_ts FROM (${parts.join(" UNION ALL ")})
      WHERE request_id IN (SELECT request_id FROM ${log})
      QUALIFY row_number() OVER (PARTITION BY request_id, "row" ORDER BY received_us DESC) = 1`;
  }
}

function plain(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

function toRecord(r: Record<string, unknown>): LogRecord {
  const out: LogRecord = {
    request_id: String(r.request_id),
    row: Number(r.row),
    timestamp: plain(r.ts) as string,
    model: String(r.model),
    version: String(r.version),
    protocol: String(r.protocol),
    latency_ms: Number(r.latency_ms),
    inputs: {},
    outputs: {},
  };
  for (const [key, raw] of Object.entries(r)) {
    if (raw === null || raw === undefined) continue;
    const v = plain(raw);
    if (key.startsWith(INPUT_PREFIX)) out.inputs[key.slice(INPUT_PREFIX.length)] = v;
    else if (key.startsWith(OUTPUT_PREFIX)) out.outputs[key.slice(OUTPUT_PREFIX.length)] = v;
    else if (key.startsWith(PROBA_PREFIX)) (out.probabilities ??= {})[key.slice(PROBA_PREFIX.length)] = v;
    else if (key === "prediction") out.prediction = v;
    else if (key === "arm") out.arm = v as string;
    else if (key === "features_from_store") out.features_from_store = v;
    else if (key === "label") out.label = v;
    else if (key === "label_ts") out.label_timestamp = v as string;
  }
  return out;
}
