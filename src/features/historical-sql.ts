/**
 * The SQL of historical retrieval. Timestamps are compared as epoch microseconds (BIGINT): one
 * integer comparison per row and no time-zone conversion (naive timestamps are UTC, aware ones are
 * instants), which DuckDB's ASOF join sorts far faster than TIMESTAMPTZ casts.
 *
 * `asof` views are matched by one chain of ASOF LEFT JOINs on the event timestamp into a match
 * table. An ASOF join picks an arbitrary row among rows tied on (keys, event timestamp), so a tie
 * fix then scans the source once more for the rows sharing a match's keys and event timestamp and,
 * where there are several, answers with the best (later created timestamp, then later in the
 * source). The ASOF joins carry only the event timestamp and features, not the created timestamp
 * or position, whose sort costs more than the fix's grouping. Widening the ASOF key to (event,
 * created, position) would make the join itself exact, but DuckDB sorts a wide key about twice as
 * slowly. With filterByCreatedTimestamp, the entity rows whose match was created after them are
 * answered by a running maximum over their keys' rows (see `fixTableSql`).
 *
 * A view whose rows fit a packed key (historical-packing.ts) is joined on that key instead: its
 * ASOF match is already the exact answer, and it has no tie fix.
 *
 * `window` views are a range join on keys and the ttl window, then the best row per entity row.
 */
import type { ColumnInfo } from "../storage/offline/duckdb.js";
import { quoteIdentifier as qi, quoteLiteral, readFileSql } from "../storage/offline/duckdb.js";
import { packedEventTimeSql, packedGrainsSql, packedKeySql, packedProbeSql, type Packing } from "./historical-packing.js";
import type { FeatureSourceSpec, FeatureViewSpec } from "./historical-types.js";

export const ROW = "__fw_row";
export const ETS = "__fw_ets";
/** Entity columns may not start with this: the match table names its own columns with it. */
export const RESERVED_PREFIX = "__fw_";
/** The source column holding row positions; a source may not have a column of that name. */
export const SEQ = "__fw_seq";
export const TIMESTAMP_TYPES = new Set([
  "TIMESTAMP",
  "TIMESTAMP_S",
  "TIMESTAMP_MS",
  "TIMESTAMP_NS",
  "TIMESTAMP WITH TIME ZONE",
  "DATE",
]);

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** The created timestamp of rows without one: below every real timestamp, so they lose ties. */
const NO_CREATED = "(-9223372036854775807 - 1)";
/** Row positions: file index and row number within the file, appended files after the source. */
const FILE_STRIDE = 2n ** 40n;
const APPENDED_BASE = 2n ** 61n;

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
  /** How a row's position in the source is known: Parquet's row numbers, or numbering the scan. */
  rowOrder: "file" | "scan";
  /** When set, the ASOF join orders this view's rows by one exact key and needs no tie fix (see `Packing`). */
  packing?: Packing | undefined;
}

/** A packed view's source: `k0.., pk, f0..` with the filters of `sourceSql`. */
function packedSourceSql(v: ResolvedView, p: Packing, bounds: TimeBounds): string {
  const source = v.spec.source;
  const columns = [
    ...v.keyColumns.map((c, j) => `${qi(c)} AS k${j}`),
    `epoch_us(${qi(v.timestampColumn)}) AS ts`,
    ...(v.createdColumn === undefined ? [] : [`epoch_us(${qi(v.createdColumn)}) AS cr`]),
    "file_row_number AS pr",
    ...v.features.map((f, j) => `${qi(f.sourceColumn)} AS f${j}`),
  ];
  const raw = `(SELECT ${columns.join(", ")} FROM ${readFileSql(source.path, source.format)})`;
  const filtered = `(SELECT *, ${packedGrainsSql(v, p).join(", ")} FROM ${raw} WHERE ${sourceFilters(v, bounds).join(" AND ")})`;
  const keys = v.keyColumns.map((_, j) => `k${j}`);
  return `(SELECT ${[...keys, `${packedKeySql(v, p)} AS pk`, ...v.features.map((_, j) => `f${j}`)].join(", ")} FROM ${filtered})`;
}

/** Non-null entity timestamps span [min, max] (epoch microseconds); undefined when there are none. */
export type TimeBounds = { min: bigint; max: bigint } | undefined;

/** The temporary tables of one call. */
export interface Tables {
  entity: string;
  match: string;
  fix: (v: ResolvedView) => string;
}

function ttlMicros(v: ResolvedView): bigint | undefined {
  if (!(v.spec.ttlSeconds > 0)) return undefined;
  const us = BigInt(Math.round(v.spec.ttlSeconds * 1e6));
  return us > INT64_MAX ? undefined : us;
}

/** `ts >= ets - ttl`, without overflowing when `ets - ttl` falls below the BIGINT range. */
function withinTtl(v: ResolvedView, ts: string, ets: string): string {
  const ttl = ttlMicros(v);
  if (ttl === undefined) return "TRUE";
  return `CASE WHEN ${ets} < ${INT64_MIN + ttl} THEN TRUE ELSE ${ts} >= ${ets} - ${ttl} END`;
}

/** One part of a source with its row positions in `__fw_seq`, starting at `base`. */
function positioned(relation: string, v: ResolvedView, base: bigint): string {
  const seq =
    v.rowOrder === "file"
      ? `${base} + CAST(file_index AS BIGINT) * ${FILE_STRIDE} + file_row_number`
      : `${base} + row_number() OVER ()`;
  return `SELECT *, ${seq} AS ${SEQ} FROM ${relation}`;
}

/** A source file, followed by the Parquet files appended to it (matched by column name). */
function sourceRelation(v: ResolvedView): string {
  const source: FeatureSourceSpec = v.spec.source;
  const base = positioned(readFileSql(source.path, source.format), v, 0n);
  const appended = source.appendedParquet ?? [];
  if (appended.length === 0) return `(${base})`;
  const files = `[${appended.map((f) => quoteLiteral(f)).join(", ")}]`;
  return `(${base} UNION ALL BY NAME ${positioned(`read_parquet(${files}, union_by_name = true)`, v, APPENDED_BASE)})`;
}

/** A source file, followed by the Parquet files appended to it, without row positions. */
function plainSourceRelation(v: ResolvedView): string {
  const source: FeatureSourceSpec = v.spec.source;
  const base = `SELECT * FROM ${readFileSql(source.path, source.format)}`;
  const appended = source.appendedParquet ?? [];
  if (appended.length === 0) return `(${base})`;
  const files = `[${appended.map((f) => quoteLiteral(f)).join(", ")}]`;
  return `(${base} UNION ALL BY NAME SELECT * FROM read_parquet(${files}, union_by_name = true))`;
}

/**
 * A view's source normalized to `k0.., ts, cr, seq, f0..` (timestamps in epoch microseconds), keeping
 * only rows with keys and an event timestamp that some entity row could see.
 */
export function sourceSql(v: ResolvedView, bounds: TimeBounds, order = true): string {
  return `(SELECT * FROM ${normalizedSql(v, order)} WHERE ${sourceFilters(v, bounds).join(" AND ")})`;
}

/** The rows of a normalized source (`k0.., ts`) that have keys and an event timestamp some entity row could see. */
function sourceFilters(v: ResolvedView, bounds: TimeBounds): string[] {
  const where = ["ts IS NOT NULL", ...v.keyColumns.map((_, j) => `k${j} IS NOT NULL`)];
  if (bounds === undefined) {
    where.push("FALSE");
  } else {
    where.push(`ts <= ${bounds.max}`);
    const ttl = ttlMicros(v);
    if (ttl !== undefined && bounds.min - ttl > INT64_MIN) where.push(`ts >= ${bounds.min - ttl}`);
  }
  return where;
}

/**
 * A view's whole source normalized to `k0.., ts, cr, seq, f0..`, unfiltered: for equi-joins on keys
 * and event timestamp with rows of `sourceSql`, which imply its filters. Without `order`, no `cr`
 * and `seq`: the created timestamp is then not read, nor row positions computed.
 */
function normalizedSql(v: ResolvedView, order = true): string {
  const created = v.createdColumn === undefined ? NO_CREATED : `coalesce(epoch_us(${qi(v.createdColumn)}), ${NO_CREATED})`;
  const columns = [
    ...v.keyColumns.map((c, j) => `${qi(c)} AS k${j}`),
    `epoch_us(${qi(v.timestampColumn)}) AS ts`,
    ...(order ? [`${created} AS cr`, `${SEQ} AS seq`] : []),
    ...v.features.map((f, j) => `${qi(f.sourceColumn)} AS f${j}`),
  ];
  return `(SELECT ${columns.join(", ")} FROM ${order ? sourceRelation(v) : plainSourceRelation(v)})`;
}

/**
 * A view's whole source as `k0.., ts, f0..` with the created timestamp as read (`cr`, if any) and
 * the row position in parts (`pf` file index and `pr` row number of a single Parquet source, or
 * `seq`), for the tie fix: only the few rows that reach `orderKey` pay for converting them, not
 * every row of the source. `orderKey` is (created, position) of alias `s` as one integer ordered the
 * same way (positions are BIGINTs >= 0, below 2^63).
 */
function rawOrderSql(v: ResolvedView): { relation: string; orderKey: string } {
  const simple = v.rowOrder === "file" && (v.spec.source.appendedParquet ?? []).length === 0;
  const columns = [
    ...v.keyColumns.map((c, j) => `${qi(c)} AS k${j}`),
    `epoch_us(${qi(v.timestampColumn)}) AS ts`,
    ...(v.createdColumn === undefined ? [] : [`${qi(v.createdColumn)} AS cr`]),
    ...(simple ? ["file_index AS pf", "file_row_number AS pr"] : [`${SEQ} AS seq`]),
    ...v.features.map((f, j) => `${qi(f.sourceColumn)} AS f${j}`),
  ];
  const source = v.spec.source;
  const relation = `(SELECT ${columns.join(", ")} FROM ${simple ? readFileSql(source.path, source.format) : sourceRelation(v)})`;
  const created = v.createdColumn === undefined ? NO_CREATED : `coalesce(epoch_us(s.cr), ${NO_CREATED})`;
  const seq = simple ? `CAST(s.pf AS BIGINT) * ${FILE_STRIDE} + s.pr` : "s.seq";
  return { relation, orderKey: `(CAST(${created} AS HUGEINT) * 9223372036854775808 + (${seq}))` };
}

const col = (v: ResolvedView, name: string) => `__fw_${v.alias}_${name}`;

/** Entity key columns (by name) against a normalized relation's `k0..`. */
function keyMatch(v: ResolvedView, left: string, right: string): string[] {
  return v.spec.joinKeys.map((key, j) => `${left}.${qi(key)} = ${right}.k${j}`);
}

/** Two normalized relations' `k0..` against each other. */
function sameKeys(v: ResolvedView, left: string, right: string): string[] {
  return v.spec.joinKeys.map((_, j) => `${left}.k${j} = ${right}.k${j}`);
}

/**
 * The match table: every entity row's number, timestamp and join keys with, per `asof` view, the
 * ASOF-matched row's event timestamp and features (and, filtering by created timestamp, its created
 * timestamp and position; all NULL when no row has an event timestamp at or before it; the features
 * NULL when it is outside the ttl). The other entity columns are not carried through the ASOF
 * joins' sorts: the result takes them from the entity table.
 */
export function matchTableSql(tables: Tables, views: ResolvedView[], bounds: TimeBounds): string {
  const keys = [...new Set(views.flatMap((v) => v.spec.joinKeys))].map((k) => `e.${qi(k)}`);
  const picked: string[] = [];
  const joins: string[] = [];
  for (const v of views) {
    const a = v.alias;
    // The created timestamp and position only for the fix of filterByCreatedTimestamp (see fixTableSql).
    const order = v.filterCreated ? ["cr", "seq"] : [];
    const p = v.packing;
    // A packed match's event timestamp is read back from its key (the result needs only its features).
    const ts = p === undefined ? `${a}.ts` : packedEventTimeSql(p, `${a}.pk`);
    if (p === undefined) picked.push(...["ts", ...order].map((c) => `${a}.${c} AS ${col(v, c)}`));
    // Features of a match outside the ttl are NULL here already (an unmatched row's are NULL), and
    // so are those of an entity row without a timestamp (DuckDB's ASOF operator matches it).
    const valid = `e.${ETS} IS NOT NULL${ttlMicros(v) === undefined ? "" : ` AND ${withinTtl(v, ts, `e.${ETS}`)}`}`;
    picked.push(...v.features.map((_, j) => `CASE WHEN ${valid} THEN ${a}.f${j} END AS ${col(v, `f${j}`)}`));
    joins.push(
      p === undefined
        ? `ASOF LEFT JOIN ${sourceSql(v, bounds, v.filterCreated)} ${a} ON ${[...keyMatch(v, "e", a), `e.${ETS} >= ${a}.ts`].join(" AND ")}`
        : `ASOF LEFT JOIN ${packedSourceSql(v, p, bounds)} ${a} ON ${[...keyMatch(v, "e", a), `(${packedProbeSql(p, `e.${ETS}`)}) >= ${a}.pk`].join(" AND ")}`,
    );
  }
  const select = [`e.${ROW}`, `e.${ETS}`, ...keys, ...picked];
  return `CREATE TEMP TABLE ${tables.match} AS SELECT ${select.join(", ")} FROM ${tables.entity} e ${joins.join(" ")}`;
}

/**
 * The fix table of an `asof` view: entity rows whose answer may not be their ASOF match, with the
 * right row's event timestamp and features (NULL features when, filtering by created timestamp,
 * no row qualifies).
 *
 * Without filterByCreatedTimestamp the answer is the best row (latest created, then latest in the
 * source) among the rows sharing the match's keys and event timestamp, so the ASOF join carries no
 * created timestamp or position: one scan of the source keeps the rows of the matches' (keys,
 * event timestamp) groups, and the groups of more than one row give their best row to their
 * matches (most groups have one row: the match itself). Those groups are found by counting first,
 * so only their rows are ordered by (created, position), converted from the raw columns then.
 */
export function fixTableSql(tables: Tables, v: ResolvedView, bounds: TimeBounds): string {
  const feats = v.features.map((_, j) => `s.f${j}`);
  // Internal names only from here on, so user column names cannot collide with them. Matches
  // outside the ttl are left out: every row tied with them, or earlier, is outside it too (NULL).
  const keys = v.spec.joinKeys.map((key, j) => `${qi(key)} AS k${j}`);
  const inTtl = `${col(v, "ts")} IS NOT NULL AND ${ETS} IS NOT NULL AND ${withinTtl(v, col(v, "ts"), ETS)}`;
  if (!v.filterCreated) {
    const k = v.spec.joinKeys.map((_, j) => `k${j}`);
    const on = (a: string, b: string) => [...sameKeys(v, a, b), `${a}.ts = ${b}.ts`].join(" AND ");
    // A subquery, not a CTE, each time: the joins then push the matches' range of event timestamps
    // into the source scan.
    const m = `(SELECT ${[ROW, ...keys].join(", ")}, ${col(v, "ts")} AS ts FROM ${tables.match} WHERE ${inTtl})`;
    // The source rows of the matches' groups, once; the groups of more than one row are found by a
    // count alone, and only their rows go through arg_max_null (the best row's feature even when
    // NULL: arg_max skips rows with a NULL argument).
    const source = rawOrderSql(v);
    const rows = `SELECT s.* FROM ${source.relation} s SEMI JOIN ${m} m ON ${on("m", "s")}`;
    const ties = `SELECT ${k.join(", ")}, ts FROM j GROUP BY ${k.join(", ")}, ts HAVING count(*) > 1`;
    const best = v.features.map((_, j) => `arg_max_null(s.f${j}, ${source.orderKey}) AS f${j}`);
    const groups =
      `SELECT ${k.map((c) => `s.${c}`).join(", ")}, s.ts, ${best.join(", ")} FROM j s SEMI JOIN t ON ${on("t", "s")} ` +
      `GROUP BY ${k.map((c) => `s.${c}`).join(", ")}, s.ts`;
    return (
      `CREATE TEMP TABLE ${tables.fix(v)} AS WITH j AS MATERIALIZED (${rows}), t AS (${ties}), g AS (${groups}) ` +
      `SELECT m.${ROW} AS row, g.ts, ${v.features.map((_, j) => `g.f${j}`).join(", ")} FROM ${m} m JOIN g ON ${on("m", "g")}`
    );
  }
  const matched =
    `SELECT ${[ROW, ...keys].join(", ")}, ${ETS} AS ets, ${col(v, "ts")} AS ts, ${col(v, "cr")} AS cr, ${col(v, "seq")} AS seq ` +
    `FROM ${tables.match} WHERE ${inTtl}`;
  // Rows tied with the match on keys and event timestamp that beat it on (created, position).
  const better = ["s.ts = m.ts", "(s.cr > m.cr OR (s.cr = m.cr AND s.seq > m.seq))", "m.cr <= m.ets", "s.cr <= m.ets"];
  const tieFix =
    `SELECT m.${ROW} AS row, s.ts, ${feats.join(", ")} FROM ${normalizedSql(v)} s ` +
    `JOIN m ON ${[...sameKeys(v, "m", "s"), ...better].join(" AND ")} ` +
    `QUALIFY row_number() OVER (PARTITION BY m.${ROW} ORDER BY s.cr DESC, s.seq DESC) = 1`;
  // Matches created after their entity row: the answer is another row. A row qualifies when
  // g = greatest(event, created) <= the entity timestamp, so over a key's rows ordered by g the
  // running max of the event timestamp is the best event timestamp any entity row can see; an
  // ASOF join on g finds it, and the best-created row with that event timestamp is the answer.
  // (A range join would enumerate every earlier row of the key: quadratic on dense keys.)
  const lateKeys = v.spec.joinKeys.map((_, j) => `k${j}`);
  const runningBest =
    `SELECT ${lateKeys.join(", ")}, greatest(ts, cr) AS g, max(ts) OVER (PARTITION BY ${lateKeys.join(", ")} ` +
    `ORDER BY greatest(ts, cr) RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS bts ` +
    `FROM ${sourceSql(v, bounds)} s SEMI JOIN late l ON ${sameKeys(v, "l", "s").join(" AND ")}`;
  const bestTs =
    `SELECT l.${ROW}, ${lateKeys.map((k) => `l.${k}`).join(", ")}, l.ets, b.bts FROM late l ASOF JOIN (${runningBest}) b ` +
    `ON ${[...sameKeys(v, "l", "b"), "l.ets >= b.g"].join(" AND ")}`;
  const found =
    `SELECT b.${ROW} AS row, s.ts, ${feats.join(", ")} FROM ${sourceSql(v, bounds)} s JOIN best_ts b ON ` +
    [...sameKeys(v, "b", "s"), "s.ts = b.bts", "s.cr <= b.ets"].join(" AND ") +
    ` QUALIFY row_number() OVER (PARTITION BY b.${ROW} ORDER BY s.cr DESC, s.seq DESC) = 1`;
  return (
    `CREATE TEMP TABLE ${tables.fix(v)} AS WITH m AS MATERIALIZED (${matched}), ` +
    `late AS MATERIALIZED (SELECT * FROM m WHERE m.cr > m.ets), best_ts AS MATERIALIZED (${bestTs}), found AS (${found}) ` +
    `${tieFix} UNION ALL SELECT l.${ROW} AS row, f.ts, ${v.features.map((_, j) => `f.f${j}`).join(", ")} ` +
    `FROM late l LEFT JOIN found f ON f.row = l.${ROW}`
  );
}

/** The answer table of a `window` view: the best qualifying row per entity row (none: no row). */
export function windowTableSql(tables: Tables, v: ResolvedView, bounds: TimeBounds): string {
  const keys = v.spec.joinKeys.map(qi);
  const probe =
    `(SELECT ${[ROW, ETS, ...keys].join(", ")} FROM ${tables.entity} WHERE ` +
    [`${ETS} IS NOT NULL`, ...keys.map((k) => `${k} IS NOT NULL`)].join(" AND ") +
    ") e";
  const conditions = [
    ...keyMatch(v, "e", "s"),
    `s.ts <= e.${ETS}`,
    withinTtl(v, "s.ts", `e.${ETS}`),
    ...(v.filterCreated ? [`s.cr <= e.${ETS}`] : []),
  ];
  return (
    `CREATE TEMP TABLE ${tables.fix(v)} AS SELECT e.${ROW} AS row, s.ts, ${v.features.map((_, j) => `s.f${j}`).join(", ")} ` +
    `FROM ${probe} JOIN ${sourceSql(v, bounds)} s ON ${conditions.join(" AND ")} ` +
    `QUALIFY row_number() OVER (PARTITION BY e.${ROW} ORDER BY s.ts DESC, s.cr DESC, s.seq DESC) = 1`
  );
}

/** The result: entity columns in input order, then the requested features, one row per entity row in input order. */
export function resultSql(tables: Tables, entityColumns: ColumnInfo[], views: ResolvedView[], requested: ResolvedFeature[]): string {
  const hasAsof = views.some((v) => v.strategy === "asof");
  const featureExprs = new Array<string>(requested.length);
  const joins: string[] = hasAsof ? [`JOIN ${tables.match} m ON m.${ROW} = e.${ROW}`] : [];
  for (const v of views) {
    const x = `x_${v.alias}`;
    if (v.packing !== undefined) {
      // Exact already: the match is the answer (NULL outside the ttl).
      for (const [j, f] of v.features.entries()) featureExprs[f.outIndex] = `m.${col(v, `f${j}`)} AS ${qi((requested[f.outIndex] as ResolvedFeature).column)}`;
      continue;
    }
    joins.push(`LEFT JOIN ${tables.fix(v)} ${x} ON ${x}.row = e.${ROW}`);
    v.features.forEach((f, j) => {
      const name = qi((requested[f.outIndex] as ResolvedFeature).column);
      if (v.strategy === "window") {
        featureExprs[f.outIndex] = `${x}.f${j} AS ${name}`;
        return;
      }
      const fixed = `${x}.row IS NOT NULL`;
      const value = `CASE WHEN ${fixed} THEN ${x}.f${j} ELSE m.${col(v, `f${j}`)} END`;
      if (!v.filterCreated) {
        // A fixed row has its match's event timestamp, within the ttl (see fixTableSql).
        featureExprs[f.outIndex] = `${value} AS ${name}`;
        return;
      }
      const ts = `CASE WHEN ${fixed} THEN ${x}.ts ELSE m.${col(v, "ts")} END`;
      const valid = `e.${ETS} IS NOT NULL AND ${ts} IS NOT NULL AND ${withinTtl(v, ts, `e.${ETS}`)}`;
      featureExprs[f.outIndex] = `CASE WHEN ${valid} THEN (${value}) END AS ${name}`;
    });
  }
  const select = [...entityColumns.map((c) => `e.${qi(c.name)}`), ...featureExprs].join(", ");
  return `SELECT ${select} FROM ${tables.entity} e ${joins.join(" ")} ORDER BY e.${ROW}`;
}
