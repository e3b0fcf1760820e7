/** The SQL of historical retrieval: one CTE chain per feature view, joined back on the entity row number. */
import type { ColumnInfo } from "../storage/offline/duckdb.js";
import { quoteIdentifier as qi, quoteLiteral, readFileSql } from "../storage/offline/duckdb.js";
import type { FeatureSourceSpec, FeatureViewSpec } from "./historical-types.js";

export const ROW = "__fw_row";
export const ETS = "__fw_ets";
export const TIMESTAMP_TYPES = new Set([
  "TIMESTAMP",
  "TIMESTAMP_S",
  "TIMESTAMP_MS",
  "TIMESTAMP_NS",
  "TIMESTAMP WITH TIME ZONE",
  "DATE",
]);


export interface ResolvedFeature {
  ref: string;
  view: string;
  feature: string;
  column: string;
}

export interface ResolvedView {
  spec: FeatureViewSpec;
  alias: string;
  /** Source column for each join key, in `joinKeys` order. */
  keyColumns: string[];
  timestampColumn: string;
  createdColumn: string | undefined;
  /** Requested features of this view: feature name → source column. */
  features: { feature: string; sourceColumn: string; outIndex: number }[];
  strategy: "asof" | "window";
  /** Drop rows created after the entity timestamp (filterByCreatedTimestamp and a created column). */
  filterCreated: boolean;
}


function ttlInterval(seconds: number): string {
  return `to_microseconds(CAST(${Math.round(seconds * 1e6)} AS BIGINT))`;
}

/** The CTEs of one view: its normalized source, and its best row per entity row. */
function viewCtes(v: ResolvedView, entityTable: string): string[] {
  const a = v.alias;
  const ttl = v.spec.ttlSeconds > 0 ? ttlInterval(v.spec.ttlSeconds) : undefined;
  const keys = v.keyColumns.map((_, j) => `k${j}`);
  const feats = v.features.map((_, j) => `f${j}`);
  const created = v.createdColumn === undefined ? "CAST(NULL AS TIMESTAMPTZ)" : `CAST(${qi(v.createdColumn)} AS TIMESTAMPTZ)`;
  const bounds = [
    "ts IS NOT NULL",
    `ts <= (SELECT max(${ETS}) FROM ${entityTable})`,
    ...(ttl === undefined ? [] : [`ts >= (SELECT min(${ETS}) FROM ${entityTable}) - ${ttl}`]),
  ];
  const source =
    `${a}_src AS (SELECT * FROM (SELECT ` +
    [
      ...v.keyColumns.map((c, j) => `${qi(c)} AS k${j}`),
      `CAST(${qi(v.timestampColumn)} AS TIMESTAMPTZ) AS ts`,
      `${created} AS cr`,
      "row_number() OVER () AS seq",
      ...v.features.map((f, j) => `${qi(f.sourceColumn)} AS f${j}`),
    ].join(", ") +
    ` FROM ${sourceRelation(v.spec.source)}) WHERE ${bounds.join(" AND ")})`;
  const keyMatch = v.spec.joinKeys.map((key, j) => `e.${qi(key)} = f.k${j}`);
  // DuckDB's ASOF JOIN matches a NULL probe timestamp to the latest row, so entity rows without a
  // timestamp or key are left out of the join here (they get NULL features from the final LEFT JOIN).
  const probe =
    `(SELECT * FROM ${entityTable} WHERE ` +
    [`${ETS} IS NOT NULL`, ...v.spec.joinKeys.map((key) => `${qi(key)} IS NOT NULL`)].join(" AND ") +
    ") e";
  const picked = [`e.${ROW} AS row`, ...feats.map((f) => `f.${f}`)].join(", ");

  if (v.strategy === "asof") {
    const dedup =
      `${a}_dedup AS (SELECT * FROM ${a}_src ` +
      `QUALIFY row_number() OVER (PARTITION BY ${[...keys, "ts"].join(", ")} ORDER BY cr DESC NULLS LAST, seq DESC) = 1)`;
    const joined =
      `${a} AS (SELECT ${picked} FROM ${probe} ASOF JOIN ${a}_dedup f ` +
      `ON ${[...keyMatch, `e.${ETS} >= f.ts`].join(" AND ")}` +
      (ttl === undefined ? "" : ` WHERE f.ts >= e.${ETS} - ${ttl}`) +
      ")";
    return [source, dedup, joined];
  }
  const conditions = [
    ...keyMatch,
    `f.ts <= e.${ETS}`,
    ...(ttl === undefined ? [] : [`f.ts >= e.${ETS} - ${ttl}`]),
    ...(v.filterCreated ? [`(f.cr IS NULL OR f.cr <= e.${ETS})`] : []),
  ];
  const joined =
    `${a} AS (SELECT ${picked} FROM ${probe} JOIN ${a}_src f ON ${conditions.join(" AND ")} ` +
    `QUALIFY row_number() OVER (PARTITION BY e.${ROW} ORDER BY f.ts DESC, f.cr DESC NULLS LAST, f.seq DESC) = 1)`;
  return [source, joined];
}

export function buildQuery(entityTable: string, entityColumns: ColumnInfo[], views: ResolvedView[], requested: ResolvedFeature[]): string {
  const ctes = views.flatMap((v) => viewCtes(v, entityTable));
  const featureExprs: string[] = new Array<string>(requested.length);
  for (const v of views) {
    v.features.forEach((f, j) => {
      featureExprs[f.outIndex] = `${v.alias}.f${j} AS ${qi((requested[f.outIndex] as ResolvedFeature).column)}`;
    });
  }
  const select = [...entityColumns.map((c) => `e.${qi(c.name)}`), ...featureExprs].join(", ");
  const joins = views.map((v) => `LEFT JOIN ${v.alias} ON ${v.alias}.row = e.${ROW}`).join(" ");
  return `WITH ${ctes.join(", ")} SELECT ${select} FROM ${entityTable} e ${joins} ORDER BY e.${ROW}`;
}

/** COPY the query to a temporary file next to `out`, then rename it into place. */

/** A source file, followed by the Parquet files appended to it (matched by column name). */
function sourceRelation(source: FeatureSourceSpec): string {
  const base = readFileSql(source.path, source.format);
  const appended = source.appendedParquet ?? [];
  if (appended.length === 0) return base;
  const files = `[${appended.map((f) => quoteLiteral(f)).join(", ")}]`;
  return `(SELECT * FROM ${base} UNION ALL BY NAME SELECT * FROM read_parquet(${files}, union_by_name = true))`;
}
