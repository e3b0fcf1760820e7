/**
 * The quickstart's feature-store stage: the breast-cancer measurements become a feature source
 * with a history (each patient measured on a known day, some re-measured earlier with other
 * values, some with a measurement dated in the future), definitions are applied, the training set
 * is built with a point-in-time join at each diagnosis's time, and the view is materialized to
 * the online store for serving.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { NumericTable } from "../data/csv.js";
import { defineEntity, defineFeatureService, defineFeatureView, defineFileSource, type FeatureRepo } from "../features/definitions.js";
import { historicalWithOnDemand } from "../features/historical-store.js";
import { repoFromObjects } from "../features/load.js";
import { OfflineDb, quoteIdentifier as qi, quoteLiteral } from "../storage/offline/duckdb.js";

export const FEATURE_VIEW = "tumor_measurements";
export const FEATURE_SERVICE = "tumor_features";
export const ENTITY_KEY = "patient_id";

type Api = (method: string, path: string, body?: unknown) => Promise<{ status: number; json: Record<string, unknown> }>;

export interface FeatureStageResult {
  /** The training set: the features (in view order) and `target`, one row per patient. */
  table: NumericTable;
  featureNames: string[];
  /** patient_id of each training row. */
  patientIds: number[];
  /** The training set's Parquet file (the model's training dataset). */
  trainingSet: string;
}

/** Runs the stage; prints what it did. */
export async function featureStage(api: Api, csv: string, dataDir: string): Promise<FeatureStageResult> {
  const dir = join(dataDir, "quickstart-features");
  mkdirSync(dir, { recursive: true });
  const source = join(dir, "tumor_measurements.parquet");
  const labels = join(dir, "diagnoses.parquet");
  const training = join(dir, "training_set.parquet");
  const db = await OfflineDb.open({ threads: 2 });
  try {
    const columns = (await db.describe(`read_csv(${quoteLiteral(csv)}, header = true)`)).map((c) => c.name);
    const featureNames = columns.filter((c) => c !== "target");
    const raw = `(SELECT row_number() OVER () - 1 AS ${ENTITY_KEY}, * FROM read_csv(${quoteLiteral(csv)}, header = true))`;
    const list = featureNames.map((f) => qi(f)).join(", ");
    // The real measurement on 2024-01-01 (+1 minute per patient); every fifth patient also has an
    // older measurement with other values, every seventh one dated 2030, after every diagnosis.
    await db.run(
      `COPY (
        SELECT ${ENTITY_KEY}, ${list}, TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_minutes(${ENTITY_KEY}) AS measured_at FROM ${raw}
        UNION ALL
        SELECT ${ENTITY_KEY}, ${featureNames.map((f) => `${qi(f)} * 1.5 AS ${qi(f)}`).join(", ")}, TIMESTAMPTZ '2023-12-01 00:00:00+00' FROM ${raw} WHERE ${ENTITY_KEY} % 5 = 0
        UNION ALL
        SELECT ${ENTITY_KEY}, ${featureNames.map((f) => `-1.0 AS ${qi(f)}`).join(", ")}, TIMESTAMPTZ '2030-01-01 00:00:00+00' FROM ${raw} WHERE ${ENTITY_KEY} % 7 = 0
      ) TO ${quoteLiteral(source)} (FORMAT parquet)`,
    );
    await db.run(
      `COPY (SELECT ${ENTITY_KEY}, TIMESTAMPTZ '2024-06-01 00:00:00+00' AS event_timestamp, target FROM ${raw} ORDER BY ${ENTITY_KEY}) TO ${quoteLiteral(labels)} (FORMAT parquet)`,
    );
    const counts = await db.query(`SELECT count(*) AS n FROM read_parquet(${quoteLiteral(source)})`);

    const patient = defineEntity({ name: "patient", joinKeys: [ENTITY_KEY], valueType: "Int64", description: "A patient of the breast-cancer study" });
    const view = defineFeatureView({
      name: FEATURE_VIEW,
      entities: [patient],
      source: defineFileSource({ name: "tumor_measurements_src", path: source, timestampField: "measured_at" }),
      schema: featureNames.map((name) => ({ name, dtype: "Float64" as const })),
      owner: "quickstart@flywheel.dev",
      tags: { dataset: "breast_cancer.csv" },
    });
    const service = defineFeatureService({ name: FEATURE_SERVICE, features: [view], description: "What the breast-cancer classifier is trained on" });
    const definitions: FeatureRepo = repoFromObjects([patient, view, service].map((value) => ({ value, where: "quickstart" })));
    const applied = await api("POST", "/api/v1/features/apply", { definitions });
    if (applied.status !== 200) throw new Error(`feature apply failed: ${JSON.stringify(applied.json)}`);
    console.log("");
    console.log(`Feature store: ${Number(counts[0]?.n)} measurement rows of ${featureNames.length} features; definitions version ${String(applied.json.version)}`);

    // The training set: the measurements as they were at each diagnosis (point in time).
    const registry = await api("GET", "/api/v1/features/registry");
    const repo = registry.json.definitions as FeatureRepo;
    const started = performance.now();
    const result = await historicalWithOnDemand(
      db,
      repo,
      { entities: { path: labels, format: "parquet" }, featureService: FEATURE_SERVICE, out: training },
      () => [],
    );
    const pitMs = performance.now() - started;
    const rows = await db.query(`SELECT * FROM read_parquet(${quoteLiteral(training)})`);
    // Point-in-time check: every row equals the 2024 measurement (older and future rows ignored).
    const mismatches = await db.query(
      `SELECT count(*) AS n FROM read_parquet(${quoteLiteral(training)}) t JOIN ${raw} r USING (${ENTITY_KEY}) WHERE ${featureNames.map((f) => `t.${qi(f)} IS DISTINCT FROM r.${qi(f)}`).join(" OR ")}`,
    );
    console.log(
      `  training set by point-in-time join: ${result.rows} rows in ${pitMs.toFixed(0)} ms -> ${training}; ` +
        `${Number(mismatches[0]?.n)} rows differ from the measurement in force at diagnosis (older and future rows excluded)`,
    );

    const materialized = await api("POST", "/materialize", { start_ts: "2023-01-01T00:00:00Z", end_ts: new Date().toISOString() });
    if (materialized.status !== 200) throw new Error(`materialization failed: ${JSON.stringify(materialized.json)}`);
    const m = (materialized.json.materialized as { rows: number }[])[0];
    console.log(`  materialized ${m?.rows ?? 0} patients to the online store`);
    const online = await api("POST", "/get-online-features", { features: [`${FEATURE_VIEW}:mean_radius`, `${FEATURE_VIEW}:worst_area`], entities: { [ENTITY_KEY]: [0, 7] } });
    const res = online.json.results as { values: unknown[]; statuses: string[] }[];
    console.log(`  online read for patients 0 and 7: mean_radius ${JSON.stringify(res[1]?.values)}, worst_area ${JSON.stringify(res[2]?.values)} (${res[1]?.statuses.join(", ")})`);

    const data = [...featureNames, "target"].map((c) => Float64Array.from(rows, (r) => Number(r[c])));
    return { table: { columns: [...featureNames, "target"], data }, featureNames, patientIds: rows.map((r) => Number(r[ENTITY_KEY])), trainingSet: training };
  } finally {
    db.close();
  }
}
