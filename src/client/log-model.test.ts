/** run.logModel against the real Flywheel server (SQLite, temporary stores). */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteBackend } from "../../test/helpers/backends.js";
import { startTestServer } from "../../test/helpers/server.js";
import type { TestServer } from "../../test/helpers/server.js";
import { LogModelError, checkPackage, createTracking, parseMlmodel } from "./index.js";
import type { Tracking } from "./index.js";

const MODELS = new URL("../../../shared/fixtures/models/", import.meta.url);
const IRIS_PATH = new URL("iris_logreg.onnx", MODELS).pathname;

let server: TestServer;
let tracking: Tracking;

beforeAll(async () => {
  server = await startTestServer(sqliteBackend);
  tracking = createTracking({ trackingUri: server.url, flushIntervalMs: 0, endRunsOnExit: false });
});

afterAll(async () => {
  await server.stop();
});

describe("ActiveRun.logModel", () => {
  it("uploads the package, records it on the run, and reads back as MLflow's layout", async () => {
    const run = await tracking.startRun({ experiment: "log-model", runName: "iris" });
    const logged = await run.logModel({
      onnx: IRIS_PATH,
      inputExample: [[5.1, 3.5, 1.4, 0.2]],
      metadata: {
        featureService: "iris_v1",
        features: ["sepal_length", "sepal_width", "petal_length", "petal_width"],
        trainingDataset: { uri: "file:///data/iris.csv", version: "1" },
        metrics: { accuracy: 0.973 },
        classNames: ["setosa", "versicolor", "virginica"],
      },
    });
    expect(logged).toMatchObject({
      artifactPath: "model",
      modelUri: `runs:/${run.runId}/model`,
      source: `${run.artifactUri}/model`,
    });

    const prefix = run.artifactUri.replace(/^mlflow-artifacts:\//, "");
    const mlmodelText = (await run.client.downloadArtifact(`${prefix}/model/MLmodel`)).toString("utf8");
    const pkg = parseMlmodel(mlmodelText);
    expect(pkg).toEqual(logged.mlmodel);
    expect(pkg).toMatchObject({
      runId: run.runId,
      artifactPath: "model",
      flavors: { onnx: { data: "model.onnx" }, python_function: { loader_module: "mlflow.onnx" } },
      signature: {
        inputs: [{ type: "tensor", name: "float_input", dtype: "float32", shape: [-1, 4] }],
        outputs: [
          { type: "tensor", name: "label", dtype: "int64", shape: [-1] },
          { type: "tensor", name: "probabilities", dtype: "float32", shape: [-1, 3] },
        ],
      },
      flywheel: {
        featureService: "iris_v1",
        features: ["sepal_length", "sepal_width", "petal_length", "petal_width"],
        trainingDataset: { uri: "file:///data/iris.csv", version: "1" },
        metrics: { accuracy: 0.973 },
        classNames: ["setosa", "versicolor", "virginica"],
      },
    });
    const onnx = await run.client.downloadArtifact(`${prefix}/model/model.onnx`);
    expect(onnx.equals(readFileSync(IRIS_PATH))).toBe(true);
    expect((await checkPackage({ mlmodel: mlmodelText, onnx })).ok).toBe(true);
    expect((await run.client.downloadArtifact(`${prefix}/model/input_example.json`)).toString("utf8")).toBe(
      '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}',
    );

    const root = await run.client.listArtifacts({ run_id: run.runId });
    expect(root.files).toEqual([{ path: "model", is_dir: true }]);
    const listed = await run.client.listArtifacts({ run_id: run.runId, path: "model" });
    expect(listed.files.map((f) => f.path).sort()).toEqual(["model/MLmodel", "model/input_example.json", "model/model.onnx"]);

    const { run: stored } = await run.client.runs.get(run.runId);
    const history = stored.data.tags?.find((t) => t.key === "mlflow.log-model.history");
    expect(history).toBeDefined();
    const entries = JSON.parse(history?.value ?? "[]") as Record<string, unknown>[];
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      run_id: run.runId,
      artifact_path: "model",
      model_uuid: pkg.modelUuid,
      flavors: { onnx: { data: "model.onnx" } },
      signature: { inputs: '[{"name": "float_input", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]' },
      metadata: { flywheel: { feature_service: "iris_v1" } },
    });
    await run.end();
  });

  it("appends a second model to the history, under its own artifact path", async () => {
    const run = await tracking.startRun({ experiment: "log-model" });
    await run.logModel({ onnx: readFileSync(IRIS_PATH) });
    const second = await run.logModel({ onnx: new URL("mlp_8x16x3.onnx", MODELS).pathname, artifactPath: "mlp" });
    expect(second.modelUri).toBe(`runs:/${run.runId}/mlp`);
    const { run: stored } = await run.client.runs.get(run.runId);
    const history = JSON.parse(stored.data.tags?.find((t) => t.key === "mlflow.log-model.history")?.value ?? "[]") as { artifact_path: string }[];
    expect(history.map((h) => h.artifact_path)).toEqual(["model", "mlp"]);
    await run.end();
  });

  it("refuses an ONNX file that does not load, before uploading anything", async () => {
    const run = await tracking.startRun({ experiment: "log-model" });
    await expect(run.logModel({ onnx: new TextEncoder().encode("not an onnx model") })).rejects.toBeInstanceOf(LogModelError);
    await expect(run.logModel({ onnx: new TextEncoder().encode("not an onnx model") })).rejects.toThrow(
      /^Cannot log the model: the ONNX file 'model.onnx' does not load in ONNX Runtime: /,
    );
    expect((await run.client.listArtifacts({ run_id: run.runId })).files).toEqual([]);
    const { run: stored } = await run.client.runs.get(run.runId);
    expect(stored.data.tags?.some((t) => t.key === "mlflow.log-model.history")).toBe(false);
    await run.end();
    await expect(run.logModel({ onnx: IRIS_PATH })).rejects.toThrow(/has ended/);
  });
});
