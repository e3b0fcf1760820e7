/**
 * Historical retrieval against applied definitions: feature references or a feature service are
 * resolved to views and their sources, then the point-in-time join runs in DuckDB.
 *
 * On-demand features are computed after the join, from the joined source features and the
 * entity file's request columns, by the same transformation code the online path runs: the
 * joined rows are streamed chunk by chunk through the transformation, its outputs written as
 * NDJSON, and DuckDB joins them back by position and writes the final Parquet file.
 */
import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { once } from "node:events";
import { basename, dirname, join } from "node:path";
import { quoteIdentifier as qi, quoteLiteral, type OfflineDb } from "../storage/offline/duckdb.js";
import type { FeatureRepo, FeatureViewDef, OnDemandFeatureViewDef } from "./definitions.js";
import { FeatureStoreError } from "./errors.js";
import { getHistoricalFeatures } from "./historical.js";
import type { EntitySpec, FeatureViewSpec, HistoricalFeaturesResult } from "./historical-types.js";
import { Transformation } from "./odfv.js";
import { resolveRefs, type FeatureSelection } from "./refs.js";
import { duckTypeOf } from "./source-check.js";
import { batchSourceOf, featuresOf, joinKeysOf } from "./validate.js";
import { toFeatureValue } from "./values.js";

export interface StoreHistoricalRequest extends FeatureSelection {
  entities: EntitySpec;
  filterByCreatedTimestamp?: boolean;
  /** The Parquet file to write (replaced atomically). */
  out: string;
}

/** The historical-retrieval spec of a defined view. */
export function viewSpec(repo: FeatureRepo, view: FeatureViewDef, appended: readonly string[]): FeatureViewSpec {
  const source = batchSourceOf(repo, view);
  if (source === undefined) throw new FeatureStoreError("features", `Feature view '${view.name}' has no file source`);
  return {
    name: view.name,
    joinKeys: joinKeysOf(repo, view),
    features: featuresOf(repo, view),
    ttlSeconds: view.ttlSeconds,
    source: {
      path: source.path,
      format: source.format,
      timestampField: source.timestampField,
      ...(source.createdTimestampColumn === undefined ? {} : { createdTimestampColumn: source.createdTimestampColumn }),
      ...(source.fieldMapping === undefined ? {} : { fieldMapping: source.fieldMapping }),
      ...(appended.length === 0 ? {} : { appendedParquet: [...appended] }),
    },
  };
}

export async function historicalWithOnDemand(
  db: OfflineDb,
  repo: FeatureRepo,
  request: StoreHistoricalRequest,
  appendedFiles: (view: FeatureViewDef) => string[],
): Promise<HistoricalFeaturesResult> {
  const refs = resolveRefs(repo, request);
  const views = new Map(repo.featureViews.map((v) => [v.name, v]));
  const odfvs = new Map(repo.onDemandFeatureViews.map((v) => [v.name, v]));
  const needed = new Set<string>();
  for (const r of refs) {
    if (!r.onDemand) needed.add(r.view);
    else for (const s of (odfvs.get(r.view) as OnDemandFeatureViewDef).sources) if (views.has(s)) needed.add(s);
  }
  const specs = [...needed].map((n) => viewSpec(repo, views.get(n) as FeatureViewDef, appendedFiles(views.get(n) as FeatureViewDef)));
  const base = {
    entities: request.entities,
    views: specs,
    ...(request.filterByCreatedTimestamp === undefined ? {} : { filterByCreatedTimestamp: request.filterByCreatedTimestamp }),
  };
  if (!refs.some((r) => r.onDemand)) {
    return getHistoricalFeatures(
      { ...base, features: refs.map((r) => r.ref), fullFeatureNames: request.fullFeatureNames === true, out: request.out },
      { db },
    );
  }

  // 1. The point-in-time join of every feature view feature involved, with full names.
  const baseRefs = new Set<string>();
  for (const r of refs) {
    if (!r.onDemand) baseRefs.add(r.ref);
    else {
      for (const s of (odfvs.get(r.view) as OnDemandFeatureViewDef).sources) {
        const fv = views.get(s);
        if (fv !== undefined) for (const f of featuresOf(repo, fv)) baseRefs.add(`${fv.name}:${f}`);
      }
    }
  }
  const tag = randomUUID();
  const dir = dirname(request.out);
  const joined = join(dir, `.${basename(request.out)}.${tag}.joined.parquet`);
  const outputs = join(dir, `.${basename(request.out)}.${tag}.odfv.ndjson`);
  const tmpOut = join(dir, `.${basename(request.out)}.${tag}.tmp`);
  try {
    const first = await getHistoricalFeatures({ ...base, features: [...baseRefs], fullFeatureNames: true, out: joined }, { db });
    const featureColumns = new Set([...baseRefs].map((ref) => ref.replace(":", "__")));
    const entityColumns = first.columns.filter((c) => !featureColumns.has(c));
    for (const r of refs) {
      if (entityColumns.includes(r.column)) {
        throw new FeatureStoreError("features", `Feature '${r.ref}' would produce column '${r.column}', which is already an entity column`);
      }
    }

    // 2. The on-demand views, chunk by chunk, into NDJSON.
    const used = [...new Set(refs.filter((r) => r.onDemand).map((r) => r.view))].map((n) => odfvs.get(n) as OnDemandFeatureViewDef);
    const transforms = used.map((v) => ({ view: v, t: Transformation.compile(v), inputs: inputsOf(repo, v, entityColumns) }));
    const sink = createWriteStream(outputs);
    const sinkFailed = once(sink, "error").then(([e]) => {
      throw e as Error;
    });
    sinkFailed.catch(() => undefined);
    for await (const rows of db.streamObjects(`SELECT * FROM read_parquet(${quoteLiteral(joined)})`)) {
      const lines: Record<string, unknown>[] = rows.map(() => ({}));
      for (const { view, t, inputs } of transforms) {
        const input = rows.map((row) => {
          const o: Record<string, unknown> = {};
          for (const [name, column] of inputs) o[name] = toFeatureValue(row[column]);
          return o;
        });
        const out = t.run(input);
        out.forEach((o, i) => {
          for (const f of view.schema) (lines[i] as Record<string, unknown>)[`${view.name}__${f.name}`] = jsonSafe(o[f.name], f.dtype);
        });
      }
      if (!sink.write(lines.map((l) => JSON.stringify(l)).join("\n") + "\n")) await Promise.race([once(sink, "drain"), sinkFailed]);
    }
    sink.end();
    await Promise.race([once(sink, "finish"), sinkFailed]);

    // 3. Entity columns, then the requested features in request order.
    const schema = used
      .flatMap((v) => v.schema.map((f) => `${quoteLiteral(`${v.name}__${f.name}`)}: ${quoteLiteral(f.dtype.startsWith("Array(") ? "JSON" : "VARCHAR")}`))
      .join(", ");
    const select = [
      ...entityColumns.map((c) => `t.${qi(c)}`),
      ...refs.map((r) => {
        if (!r.onDemand) return `t.${qi(`${r.view}__${r.feature}`)} AS ${qi(r.column)}`;
        const dtype = (odfvs.get(r.view) as OnDemandFeatureViewDef).schema.find((f) => f.name === r.feature)?.dtype ?? "String";
        return `CAST(j.${qi(`${r.view}__${r.feature}`)} AS ${duckTypeOf(dtype)}) AS ${qi(r.column)}`;
      }),
    ].join(", ");
    const rowsWritten = await db.run(
      `COPY (SELECT ${select} FROM read_parquet(${quoteLiteral(joined)}) t ` +
        `POSITIONAL JOIN read_json(${quoteLiteral(outputs)}, format = 'newline_delimited', columns = {${schema}}) j) ` +
        `TO ${quoteLiteral(tmpOut)} (FORMAT parquet)`,
    );
    await rename(tmpOut, request.out);
    return { rows: rowsWritten, columns: [...entityColumns, ...refs.map((r) => r.column)] };
  } finally {
    await Promise.all([joined, outputs, tmpOut].map((f) => rm(f, { force: true })));
  }
}

/** Input name → column of the joined file, for one on-demand view: source features and request fields. */
function inputsOf(repo: FeatureRepo, view: OnDemandFeatureViewDef, entityColumns: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const s of view.sources) {
    const fv = repo.featureViews.find((v) => v.name === s);
    if (fv !== undefined) {
      for (const f of featuresOf(repo, fv)) out.push([f, `${fv.name}__${f}`]);
      continue;
    }
    const rs = repo.sources.find((x) => x.name === s);
    if (rs?.kind !== "request_source") continue;
    for (const field of rs.schema) {
      if (!entityColumns.includes(field.name)) {
        throw new FeatureStoreError("entities.path", `On-demand feature view '${view.name}' needs request column '${field.name}' in the entity file (columns: ${entityColumns.join(", ")})`);
      }
      out.push([field.name, field.name]);
    }
  }
  return out;
}

/** Values as JSON text DuckDB casts back: strings for scalars (NaN, ±Infinity survive), JSON for lists. */
function jsonSafe(v: unknown, dtype: string): unknown {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v;
  if (dtype === "UnixTimestamp" && typeof v === "number") return new Date(v).toISOString();
  return String(v);
}
