/**
 * Point-in-time correct historical feature retrieval (Feast's `get_historical_features`), as one
 * DuckDB query over Parquet/CSV files whose result is streamed to a Parquet file with COPY.
 *
 * Semantics, per entity row and feature view:
 * - a feature row qualifies when its join keys equal the entity row's (NULL never matches) and
 *   `event_ts <= entity_ts`, and, when ttl > 0, `event_ts >= entity_ts - ttl` (both inclusive);
 * - among qualifying rows the latest `event_ts` wins, ties go to the latest `created_ts` (rows
 *   with a NULL created timestamp lose), and a remaining full tie goes to the row that comes last
 *   in the source;
 * - with `filterByCreatedTimestamp`, rows whose created timestamp is after the entity timestamp
 *   do not qualify (a NULL created timestamp is not known to be late and is kept);
 * - no qualifying row gives NULL features. Every entity row comes back exactly once and in input
 *   order (duplicates included): entity rows are numbered first and joined back on that number.
 *
 * All timestamps are compared as microseconds since the epoch: naive timestamps are UTC,
 * timezone-aware ones are instants, and infinite timestamps count as missing. Output columns: every
 * entity column in input order (types unchanged), then the requested features in request order.
 * The SQL and why it is shaped so: `historical-sql.ts`.
 */
import { randomUUID } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import {
  OfflineDb,
  duckdbMessage,
  quoteIdentifier as qi,
  quoteLiteral,
  readFileSql,
  type ColumnInfo,
  type FileFormat,
} from "../storage/offline/duckdb.js";
import { FeatureStoreError } from "./errors.js";
import { packable, packingFor, type Packing } from "./historical-packing.js";
import type { FeatureViewSpec, HistoricalFeaturesOptions, HistoricalFeaturesRequest, HistoricalFeaturesResult, JoinStrategy } from "./historical-types.js";
import {
  ETS,
  RESERVED_PREFIX,
  ROW,
  SEQ,
  TIMESTAMP_TYPES,
  fixTableSql,
  matchTableSql,
  resultSql,
  windowTableSql,
  type ResolvedFeature,
  type ResolvedView,
  type Tables,
  type TimeBounds,
} from "./historical-sql.js";

export type * from "./historical-types.js";

/** Writes the point-in-time join of `entities` with the requested features to `out`. */
export async function getHistoricalFeatures(
  request: HistoricalFeaturesRequest,
  options: HistoricalFeaturesOptions = {},
): Promise<HistoricalFeaturesResult> {
  checkRequestShape(request);
  const views = indexViews(request.views);
  const requested = resolveFeatureRefs(request, views);

  const db = options.db ?? (await OfflineDb.open(options.dbOptions));
  try {
    const entityTs = request.entities.timestampField ?? "event_timestamp";
    const entityColumns = await describeFile(db, request.entities.path, request.entities.format, "entities.path");
    const entityTypes = new Map(entityColumns.map((c) => [c.name, c.type]));
    requireTimestamp(entityTypes, entityTs, request.entities.path, "entities.timestampField");
    for (const name of entityTypes.keys()) {
      if (name.startsWith(RESERVED_PREFIX)) {
        throw new FeatureStoreError(
          "entities.path",
          `Entity file '${request.entities.path}' has a column named '${name}'; names starting with '${RESERVED_PREFIX}' are reserved`,
        );
      }
    }
    for (const f of requested) {
      if (entityTypes.has(f.column)) {
        throw new FeatureStoreError(
          "features",
          `Feature '${f.ref}' would produce column '${f.column}', which is already an entity column of '${request.entities.path}'` +
            (request.fullFeatureNames ? "" : "; set fullFeatureNames to prefix feature columns with their view"),
        );
      }
    }

    const resolvedViews: ResolvedView[] = [];
    for (const [viewName, feats] of groupByView(requested)) {
      const spec = views.get(viewName) as FeatureViewSpec;
      resolvedViews.push(
        await resolveView(db, spec, `v${resolvedViews.length}`, feats, entityTypes, request, options.strategy ?? "auto"),
      );
    }

    // Per-call names, so calls sharing one database do not clobber each other's tables.
    const id = randomUUID().replaceAll("-", "");
    const tables: Tables = {
      entity: `__fw_entity_${id}`,
      match: `__fw_match_${id}`,
      fix: (v) => `__fw_${v.alias}_${id}`,
    };
    try {
      // Parquet row numbers give the input order without numbering the scan (a serial window),
      // unless an entity column shadows their names.
      const parquetOrder =
        request.entities.format === "parquet" && !entityTypes.has("file_index") && !entityTypes.has("file_row_number");
      const rowNumber = parquetOrder ? `CAST(file_index AS BIGINT) * ${2n ** 40n} + file_row_number` : "row_number() OVER ()";
      await db.run(
        `CREATE TEMP TABLE ${tables.entity} AS ` +
          `SELECT ${rowNumber} AS ${ROW}, epoch_us(${qi(entityTs)}) AS ${ETS}, * ` +
          `FROM ${readFileSql(request.entities.path, request.entities.format)}`,
      );
      const bounds = await entityBounds(db, tables.entity);
      const asof = resolvedViews.filter((v) => v.strategy === "asof");
      if (options.packedKeys !== false) for (const v of asof) v.packing = await packingOf(db, v);
      if (asof.length > 0) {
        try {
          await db.run(matchTableSql(tables, asof, bounds));
        } catch (e) {
          // A row that does not fit its packing (or arithmetic on an extreme timestamp) stops the
          // packed join: the views are matched on the event timestamp, with the tie fix.
          if (!asof.some((v) => v.packing !== undefined)) throw e;
          for (const v of asof) v.packing = undefined;
          await db.run(`DROP TABLE IF EXISTS ${tables.match}`);
          await db.run(matchTableSql(tables, asof, bounds));
        }
      }
      for (const v of resolvedViews) {
        if (v.strategy === "asof" && v.packing !== undefined) continue;
        await db.run(v.strategy === "asof" ? fixTableSql(tables, v, bounds) : windowTableSql(tables, v, bounds));
      }
      const columns = [...entityColumns.map((c) => c.name), ...requested.map((f) => f.column)];
      const rows = await copyToParquet(db, resultSql(tables, entityColumns, resolvedViews, requested), request.out);
      return { rows, columns };
    } finally {
      const names = [tables.entity, tables.match, ...resolvedViews.map(tables.fix)];
      for (const name of names) await db.run(`DROP TABLE IF EXISTS ${name}`);
    }
  } finally {
    if (options.db === undefined) db.close();
  }
}

function checkRequestShape(request: HistoricalFeaturesRequest): void {
  const nonEmpty = (v: unknown, field: string) => {
    if (typeof v !== "string" || v.length === 0) throw new FeatureStoreError(field, `'${field}' must be a non-empty string`);
  };
  nonEmpty(request.entities?.path, "entities.path");
  nonEmpty(request.out, "out");
  if (!Array.isArray(request.features) || request.features.length === 0) {
    throw new FeatureStoreError("features", "At least one feature reference ('view:feature') is required");
  }
  if (resolve(request.out) === resolve(request.entities.path)) {
    throw new FeatureStoreError("out", `The output path '${request.out}' is the entity file`);
  }
}

function indexViews(specs: FeatureViewSpec[]): Map<string, FeatureViewSpec> {
  const views = new Map<string, FeatureViewSpec>();
  for (const v of specs) {
    if (views.has(v.name)) throw new FeatureStoreError("views", `Feature view '${v.name}' is defined twice`);
    views.set(v.name, v);
  }
  return views;
}

function resolveFeatureRefs(request: HistoricalFeaturesRequest, views: Map<string, FeatureViewSpec>): ResolvedFeature[] {
  const seenRefs = new Set<string>();
  const byColumn = new Map<string, string>();
  const out: ResolvedFeature[] = [];
  for (const ref of request.features) {
    const colon = typeof ref === "string" ? ref.indexOf(":") : -1;
    if (colon <= 0 || colon === ref.length - 1) {
      throw new FeatureStoreError("features", `Feature reference '${String(ref)}' is not of the form 'view:feature'`);
    }
    const view = ref.slice(0, colon);
    const feature = ref.slice(colon + 1);
    const spec = views.get(view);
    if (spec === undefined) {
      const valid = [...views.keys()].map((n) => `'${n}'`).join(", ") || "(none)";
      throw new FeatureStoreError("features", `Unknown feature view '${view}' in '${ref}'; valid views: ${valid}`);
    }
    if (!spec.features.includes(feature)) {
      const valid = spec.features.map((n) => `'${view}:${n}'`).join(", ") || "(none)";
      throw new FeatureStoreError("features", `Unknown feature '${feature}' in view '${view}'; valid features: ${valid}`);
    }
    if (seenRefs.has(ref)) throw new FeatureStoreError("features", `Feature '${ref}' is requested twice`);
    seenRefs.add(ref);
    const column = request.fullFeatureNames ? `${view}__${feature}` : feature;
    const other = byColumn.get(column);
    if (other !== undefined) {
      throw new FeatureStoreError(
        "features",
        `Feature name collision: '${other}' and '${ref}' both produce column '${column}'` +
          (request.fullFeatureNames ? "" : "; set fullFeatureNames to prefix feature columns with their view"),
      );
    }
    byColumn.set(column, ref);
    out.push({ ref, view, feature, column });
  }
  return out;
}

function groupByView(features: ResolvedFeature[]): Map<string, { feature: string; outIndex: number }[]> {
  const groups = new Map<string, { feature: string; outIndex: number }[]>();
  features.forEach((f, outIndex) => {
    const g = groups.get(f.view) ?? [];
    g.push({ feature: f.feature, outIndex });
    groups.set(f.view, g);
  });
  return groups;
}

async function describeFile(db: OfflineDb, path: string, format: FileFormat, field: string): Promise<ColumnInfo[]> {
  if (format !== "parquet" && format !== "csv") {
    throw new FeatureStoreError(field.replace(/path$/, "format"), `Unsupported format '${String(format)}' for '${path}'; use "parquet" or "csv"`);
  }
  try {
    return await db.describe(readFileSql(path, format));
  } catch (e) {
    throw new FeatureStoreError(field, `Cannot read ${format} file '${path}': ${duckdbMessage(e)}`, { cause: e });
  }
}

function requireTimestamp(types: Map<string, string>, column: string, path: string, field: string): void {
  const type = types.get(column);
  if (type === undefined) {
    throw new FeatureStoreError(field, `File '${path}' has no timestamp column '${column}'; columns: ${[...types.keys()].join(", ")}`);
  }
  if (!TIMESTAMP_TYPES.has(type)) {
    throw new FeatureStoreError(field, `Column '${column}' of '${path}' must be a timestamp or date, not ${type}`);
  }
}

/** Type families whose values DuckDB can compare for equality in a join. */
function typeFamily(type: string): string {
  if (/^U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)$/.test(type) || type === "UHUGEINT") return "number";
  if (type === "FLOAT" || type === "DOUBLE" || type.startsWith("DECIMAL")) return "number";
  if (type === "VARCHAR") return "string";
  if (type.startsWith("TIMESTAMP")) return "timestamp";
  return type;
}

async function resolveView(
  db: OfflineDb,
  spec: FeatureViewSpec,
  alias: string,
  feats: { feature: string; outIndex: number }[],
  entityTypes: Map<string, string>,
  request: HistoricalFeaturesRequest,
  strategy: JoinStrategy,
): Promise<ResolvedView> {
  const field = `views.${spec.name}`;
  const { source } = spec;
  if (!Number.isFinite(spec.ttlSeconds) || spec.ttlSeconds < 0) {
    throw new FeatureStoreError(`${field}.ttlSeconds`, `ttlSeconds of view '${spec.name}' must be a number >= 0`);
  }
  if (!Array.isArray(spec.joinKeys) || spec.joinKeys.length === 0) {
    throw new FeatureStoreError(`${field}.joinKeys`, `View '${spec.name}' needs at least one join key`);
  }
  const columns = await describeFile(db, source.path, source.format, `${field}.source.path`);
  const types = new Map(columns.map((c) => [c.name, c.type]));
  if (types.has(SEQ)) {
    throw new FeatureStoreError(`${field}.source.path`, `Source file '${source.path}' of view '${spec.name}' has a column named '${SEQ}', which is reserved`);
  }
  const mapping = source.fieldMapping ?? {};
  const renamedAway = new Set(Object.keys(mapping));

  /** The source column holding view column `name` (after field mapping), if any. */
  const sourceColumnOf = (name: string): string | undefined => {
    for (const [src, dst] of Object.entries(mapping)) if (dst === name && types.has(src)) return src;
    return types.has(name) && !renamedAway.has(name) ? name : undefined;
  };
  const require = (name: string, what: string, subField: string): string => {
    const col = sourceColumnOf(name) ?? (subField.startsWith("source.") && types.has(name) ? name : undefined);
    if (col === undefined) {
      throw new FeatureStoreError(
        `${field}.${subField}`,
        `Source file '${source.path}' of view '${spec.name}' has no ${what} column '${name}'; columns: ${[...types.keys()].join(", ")}`,
      );
    }
    return col;
  };

  const timestampColumn = require(source.timestampField, "timestamp", "source.timestampField");
  requireTimestamp(types, timestampColumn, source.path, `${field}.source.timestampField`);
  let createdColumn: string | undefined;
  if (source.createdTimestampColumn !== undefined && source.createdTimestampColumn !== "") {
    createdColumn = require(source.createdTimestampColumn, "created timestamp", "source.createdTimestampColumn");
    requireTimestamp(types, createdColumn, source.path, `${field}.source.createdTimestampColumn`);
  }

  const keyColumns = spec.joinKeys.map((key) => {
    const col = require(key, "join key", "joinKeys");
    const entityType = entityTypes.get(key);
    if (entityType === undefined) {
      throw new FeatureStoreError(
        `${field}.joinKeys`,
        `Entity file '${request.entities.path}' has no join key column '${key}' needed by view '${spec.name}'`,
      );
    }
    const sourceType = types.get(col) as string;
    if (typeFamily(entityType) !== typeFamily(sourceType)) {
      throw new FeatureStoreError(
        `${field}.joinKeys`,
        `Join key '${key}' cannot be compared: it is ${entityType} in the entity file '${request.entities.path}' ` +
          `but ${sourceType} in '${source.path}' (view '${spec.name}')`,
      );
    }
    return col;
  });

  const features = feats.map(({ feature, outIndex }) => ({
    feature,
    outIndex,
    sourceColumn: require(feature, "feature", "features"),
  }));

  const filterCreated = request.filterByCreatedTimestamp === true && createdColumn !== undefined;
  // Parquet row numbers give each row its position, unless a source column shadows those names.
  const rowOrder = source.format === "parquet" && !types.has("file_index") && !types.has("file_row_number") ? "file" : "scan";
  return { spec, alias, keyColumns, timestampColumn, createdColumn, features, strategy: strategy === "window" ? "window" : "asof", filterCreated, rowOrder };
}

/** Rows read to guess the grain of a view's event timestamps. */
const PACKING_SAMPLE = 100_000;

/** The packing of an `asof` view's source (see Packing), from its event timestamps' range and grain and its row count; undefined when none fits. */
async function packingOf(db: OfflineDb, v: ResolvedView): Promise<Packing | undefined> {
  if (!packable(v)) return undefined;
  const source = v.spec.source;
  // Positions are row numbers within one file.
  const [files] = await db.query(`SELECT count(*) AS n FROM glob(${quoteLiteral(source.path)})`);
  if (Number(files?.n) !== 1) return undefined;
  const ts = qi(v.timestampColumn);
  const file = readFileSql(source.path, source.format);
  // The range and count come from the file's statistics; the grain from the first rows and the
  // range's ends (a later row finer than that stops the packed query, which then falls back).
  const [row] = await db.query(`SELECT epoch_us(min(${ts})) AS lo, epoch_us(max(${ts})) AS hi, count(*) AS n FROM ${file}`);
  const { lo, hi, n } = row ?? {};
  if (typeof lo !== "bigint" || typeof hi !== "bigint" || typeof n !== "bigint") return undefined;
  const [first] = await db.query(`SELECT bit_or(t % 1000000) AS r6, bit_or(t % 1000) AS r3 FROM (SELECT epoch_us(${ts}) AS t FROM ${file} LIMIT ${PACKING_SAMPLE})`);
  const fits = (g: bigint) => lo % g === 0n && hi % g === 0n && first?.[g === 1_000_000n ? "r6" : "r3"] === 0n;
  const grain = fits(1_000_000n) ? 1_000_000n : fits(1_000n) ? 1_000n : 1n;
  return packingFor(v, lo, hi, n, grain);
}

async function entityBounds(db: OfflineDb, entityTable: string): Promise<TimeBounds> {
  const [row] = await db.query(`SELECT min(${ETS}) AS lo, max(${ETS}) AS hi FROM ${entityTable}`);
  const lo = row?.lo;
  const hi = row?.hi;
  return typeof lo === "bigint" && typeof hi === "bigint" ? { min: lo, max: hi } : undefined;
}

/** COPY the query to a temporary file next to `out`, then rename it into place. */
async function copyToParquet(db: OfflineDb, sql: string, out: string): Promise<number> {
  const dir = dirname(resolve(out));
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(out)}.${process.pid}.${randomUUID()}.tmp`);
  try {
    const rows = await db.run(`COPY (${sql}) TO ${quoteLiteral(tmp)} (FORMAT parquet)`);
    await rename(tmp, out);
    return rows;
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

