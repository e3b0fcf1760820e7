/**
 * Registration checks that a package's declared features exist in the feature store: its feature
 * service is applied, and every listed feature is served by it (or, without a service, every
 * `view:feature` reference names a defined feature). Otherwise FAILED_REGISTRATION says why.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { IRIS_ONNX, irisMlmodel, uploadToRun } from "../helpers/model-package.js";
import { metadataBackends, titleOf } from "../helpers/backends.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const API = "/api/2.0/mlflow";

const definitions = {
  entities: [{ kind: "entity", name: "flower", joinKeys: ["flower_id"], valueType: "Int64" }],
  sources: [{ kind: "file_source", name: "flowers_src", path: "/nonexistent/flowers.parquet", timestampField: "ts" }],
  featureViews: [
    {
      kind: "feature_view",
      name: "petals",
      entities: ["flower"],
      source: "flowers_src",
      schema: ["sepal_length", "sepal_width", "petal_length", "petal_width", "colour"].map((name) => ({ name, dtype: name === "colour" ? "String" : "Float32" })),
    },
  ],
  featureServices: [{ kind: "feature_service", name: "iris_v1", features: [{ view: "petals", features: ["sepal_length", "sepal_width", "petal_length", "petal_width"] }] }],
};

const FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`declared features on ${titleOf(backend)}`, () => {
    let s: TestServer;
    let n = 0;

    beforeAll(async () => {
      s = await startTestServer(backend);
    });
    afterAll(async () => {
      await s?.stop();
    });

    /** Logs a package with the given metadata block to a new run and registers it; returns the version. */
    async function register(metadata: string): Promise<{ status: string; status_message?: string }> {
      const exp = await s.call("POST", `${API}/experiments/create`, { name: `declared-${++n}-${Date.now()}` });
      const run = await s.call("POST", `${API}/runs/create`, { experiment_id: exp.json.experiment_id });
      const artifactUri: string = run.json.run.info.artifact_uri;
      await uploadToRun(s.url, artifactUri, { "model/MLmodel": irisMlmodel(metadata), "model/model.onnx": IRIS_ONNX });
      const name = `iris-${n}`;
      await s.call("POST", `${API}/registered-models/create`, { name });
      const created = await s.call("POST", `${API}/model-versions/create`, { name, source: `${artifactUri}/model`, run_id: run.json.run.info.run_id });
      expect(created.status).toBe(200);
      return created.json.model_version;
    }

    const meta = (service: string | undefined, features: string[]) =>
      `metadata:\n  flywheel:\n${service === undefined ? "" : `    feature_service: ${service}\n`}    features:\n${features.map((f) => `    - ${f}\n`).join("")}`;

    test("before any feature definitions are applied, a declared service fails registration", async () => {
      const v = await register(meta("iris_v1", FEATURES));
      expect(v.status).toBe("FAILED_REGISTRATION");
      expect(v.status_message).toContain("no feature definitions are applied in project 'default'");
    });

    test("with the definitions applied: a served feature list is READY; an unknown service or feature fails, naming it", async () => {
      const applied = await s.call("POST", "/api/v1/features/apply", { definitions });
      expect(applied.status).toBe(200);
      expect((await register(meta("iris_v1", FEATURES))).status).toBe("READY");
      expect((await register(meta("iris_v1", FEATURES.map((f) => `petals:${f}`)))).status).toBe("READY");

      const unknownService = await register(meta("iris_v9", FEATURES));
      expect(unknownService.status).toBe("FAILED_REGISTRATION");
      expect(unknownService.status_message).toContain("'iris_v9' is not a feature service of project 'default' (valid: 'iris_v1')");

      const notServed = await register(meta("iris_v1", ["sepal_length", "sepal_width", "petal_length", "colour"]));
      expect(notServed.status).toBe("FAILED_REGISTRATION");
      expect(notServed.status_message).toContain("lists 'colour', which feature service 'iris_v1' does not serve");
    });

    test("without a service, view:feature references must name defined features; plain column names are not looked up", async () => {
      expect((await register(meta(undefined, FEATURES.map((f) => `petals:${f}`)))).status).toBe("READY");
      const bad = await register(meta(undefined, ["petals:sepal_length", "petals:sepal_width", "petals:petal_length", "petals:stem"]));
      expect(bad.status).toBe("FAILED_REGISTRATION");
      expect(bad.status_message).toContain("Unknown feature 'stem' in view 'petals'");
      expect((await register(meta(undefined, ["a", "b", "c", "d"]))).status).toBe("READY");
    });
  });
}
