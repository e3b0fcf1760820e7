/**
 * `POST /api/v1/predict/<model>`: records by feature name, entity keys alone (features read from
 * the online store in the package's order), or a mix; class names as labels; the fixture's
 * expected values reproduced; bad input named.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { OfflineDb, quoteLiteral } from "../../src/storage/offline/duckdb.js";
import { sqliteBackend } from "../helpers/backends.js";
import { IRIS_ONNX, irisMlmodel, uploadToRun } from "../helpers/model-package.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const FIXTURE = JSON.parse(readFileSync(new URL("../../../shared/fixtures/models/iris_logreg.expected.json", import.meta.url), "utf8")) as {
  inputs: number[][];
  expected: { label: number[]; probabilities: number[][] };
};
const FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
const CLASSES = ["setosa", "versicolor", "virginica"];
const API = "/api/2.0/mlflow";

describe("predict API with feature lookup", () => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer(sqliteBackend);
    // The fixture's 150 rows as a feature source keyed by flower_id = row index.
    const db = await OfflineDb.open();
    const source = join(s.dataDir, "iris_features.parquet");
    const values = FIXTURE.inputs.map((r, i) => `(${i}, ${r.map((v) => `${v}::FLOAT`).join(", ")}, TIMESTAMPTZ '2024-01-01 00:00:00+00')`).join(", ");
    await db.run(`COPY (SELECT * FROM (VALUES ${values}) t(flower_id, ${FEATURES.join(", ")}, ts)) TO ${quoteLiteral(source)} (FORMAT parquet)`);
    db.close();
    const definitions = {
      entities: [{ kind: "entity", name: "flower", joinKeys: ["flower_id"], valueType: "Int64" }],
      sources: [{ kind: "file_source", name: "iris_src", path: source, timestampField: "ts" }],
      featureViews: [{ kind: "feature_view", name: "iris", entities: ["flower"], source: "iris_src", schema: FEATURES.map((name) => ({ name, dtype: "Float32" })) }],
      featureServices: [{ kind: "feature_service", name: "iris_v1", features: [{ view: "iris" }] }],
    };
    expect((await s.call("POST", "/api/v1/features/apply", { definitions })).status).toBe(200);
    expect((await s.call("POST", "/materialize", { start_ts: "2023-01-01", end_ts: "2025-01-01" })).json.materialized[0].rows).toBe(150);

    const register = async (name: string, metadata: string) => {
      const exp = await s.call("POST", `${API}/experiments/create`, { name: `predict-${name}` });
      const run = await s.call("POST", `${API}/runs/create`, { experiment_id: exp.json.experiment_id });
      const uri: string = run.json.run.info.artifact_uri;
      await uploadToRun(s.url, uri, { "model/MLmodel": irisMlmodel(metadata), "model/model.onnx": IRIS_ONNX });
      await s.call("POST", `${API}/registered-models/create`, { name });
      const v = await s.call("POST", `${API}/model-versions/create`, { name, source: `${uri}/model`, run_id: run.json.run.info.run_id });
      expect(v.json.model_version.status).toBe("READY");
      await s.call("POST", `${API}/registered-models/alias`, { name, alias: "champion", version: "1" });
    };
    await register("iris", `metadata:\n  flywheel:\n    feature_service: iris_v1\n    features: [${FEATURES.join(", ")}]\n    class_names: [${CLASSES.join(", ")}]\n`);
    await register("iris-bare", "");
  });

  afterAll(async () => {
    await s?.stop();
  });

  const check = (predictions: { label: string; probabilities: Record<string, number> }[], rows: number[]) => {
    predictions.forEach((p, k) => {
      const i = rows[k] as number;
      expect(p.label).toBe(CLASSES[FIXTURE.expected.label[i] as number]);
      CLASSES.forEach((c, j) => {
        const want = FIXTURE.expected.probabilities[i]?.[j] as number;
        expect(Math.abs((p.probabilities[c] as number) - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));
      });
    });
  };

  test("records with every feature reproduce the fixture; labels are class names; the id is echoed", async () => {
    const rows = [0, 60, 120, 149];
    const records = rows.map((i) => Object.fromEntries(FEATURES.map((f, j) => [f, FIXTURE.inputs[i]?.[j]])));
    const res = await s.call("POST", "/api/v1/predict/iris@champion", { records, id: "req-7" });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ id: "req-7", model_name: "iris", model_version: "1", features_from_store: [] });
    check(res.json.predictions, rows);
  });

  test("entity keys alone: every feature is read from the online store, in the package's order", async () => {
    const rows = Array.from({ length: 150 }, (_, i) => i);
    const res = await s.call("POST", "/api/v1/predict/iris", { entities: { flower_id: rows } });
    expect(res.status).toBe(200);
    expect(res.json.features_from_store).toEqual(FEATURES.map((f) => `iris:${f}`));
    expect(res.json.id).toMatch(/^[0-9a-f-]{36}$/);
    check(res.json.predictions, rows);
  });

  test("a mix: features a record carries win, the rest come from the store", async () => {
    const given = FIXTURE.inputs[100] as number[];
    const res = await s.call("POST", "/api/v1/predict/iris/versions/1", { records: [{ flower_id: 100, sepal_length: given[0], petal_width: given[3] }] });
    expect(res.status).toBe(200);
    expect(res.json.features_from_store).toEqual(["iris:sepal_width", "iris:petal_length"]);
    check(res.json.predictions, [100]);
  });

  test("bad input is a 400 that says what is wrong; metrics count the requests and time the lookups", async () => {
    const missing = await s.call("POST", "/api/v1/predict/iris", { records: [{ flower_id: 999 }] });
    expect(missing.status).toBe(400);
    expect(missing.json.message).toContain("feature 'iris:sepal_length' is NOT_FOUND in the online store for {\"flower_id\":999}");
    const wrongKey = await s.call("POST", "/api/v1/predict/iris", { records: [{ flower_id: "seven" }] });
    expect(wrongKey.status).toBe(400);
    expect(wrongKey.json.message).toContain("entities.flower_id");
    const bare = await s.call("POST", "/api/v1/predict/iris-bare", { records: [{ a: 1 }] });
    expect(bare.status).toBe(400);
    expect(bare.json.message).toContain("has no feature list");
    const noModel = await s.call("POST", "/api/v1/predict/nope", { records: [{ a: 1 }] });
    expect(noModel.status).toBe(404);
    const both = await s.call("POST", "/api/v1/predict/iris", { records: [{ flower_id: 1 }], entities: { flower_id: [1] } });
    expect(both.status).toBe(400);
    const text = await (await fetch(`${s.url}/metrics`)).text();
    expect(text).toMatch(/flywheel_inference_requests_total\{model="iris",version="1",protocol="predict",status="200"\} [1-9]/);
    expect(text).toMatch(/flywheel_feature_lookup_duration_seconds_count\{model="iris"\} [1-9]/);
  });
});
