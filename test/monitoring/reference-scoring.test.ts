/**
 * `reference.score`: a monitor whose reference is a plain training set (features and a 0/1 target,
 * no model outputs) has the version score it, and so gets a performance baseline and CBPE. The
 * model is the fixtures' classifier p = σ(1.5·f1 + f2) exported to ONNX, with class names, so the
 * target's class ids are written as names to compare with the logged predictions and labels.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { renderMlmodel } from "../../src/models/mlmodel.js";
import { signatureFromGraph } from "../../src/models/signature.js";
import { exportLogisticRegression } from "../../src/onnx/export-logistic-regression.js";
import { inspectOnnx } from "../../src/onnx/inspect.js";
import { metadataBackends, tempDir, titleOf } from "../helpers/backends.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { FEATURES, HOUR, T0, entry, registerChurn, rng, row, writeReference, type Row } from "./fixtures.js";

const API = "/api/2.0/mlflow";
const V1 = "/api/v1";
const CLASSES = ["stay", "churn"];

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`reference.score on ${titleOf(backend)}`, () => {
    let s: TestServer;
    const dir = tempDir("flywheel-scored-reference-");
    const reference: Row[] = [];

    beforeAll(async () => {
      s = await startTestServer(backend);
      // The training set: features and the target only.
      const r = rng(3);
      for (let i = 0; i < 3000; i++) reference.push(row(r, false));
      const csv = join(dir.path, "train.csv");
      writeFileSync(csv, ["f1,f2,f3,f4,y", ...reference.map((x) => `${x.f.join(",")},${x.y}`)].join("\n") + "\n");

      const onnx = exportLogisticRegression({ weights: Float64Array.from([1.5, 1, 0, 0]), bias: 0 });
      const mlmodel = renderMlmodel({
        artifactPath: "model",
        flavors: { onnx: { data: "model.onnx", code: null } },
        signature: signatureFromGraph(await inspectOnnx(onnx)),
        flywheel: { features: FEATURES, classNames: CLASSES, trainingDataset: { uri: pathToFileURL(csv).href, version: "v1" } },
      });
      const exp = (await s.call("POST", `${API}/experiments/create`, { name: "scored" })).json.experiment_id;
      const run = (await s.call("POST", `${API}/runs/create`, { experiment_id: exp })).json.run.info;
      for (const [path, body] of [
        ["model/MLmodel", mlmodel],
        ["model/model.onnx", onnx],
      ] as const) {
        const res = await fetch(`${s.url}/api/2.0/mlflow-artifacts/artifacts/${String(run.artifact_uri).replace(/^mlflow-artifacts:\//, "")}/${path}`, { method: "PUT", body });
        expect(res.status).toBe(200);
      }
      expect((await s.call("POST", `${API}/registered-models/create`, { name: "churn" })).status).toBe(200);
      const v = await s.call("POST", `${API}/model-versions/create`, { name: "churn", source: `${run.artifact_uri}/model`, run_id: run.run_id });
      expect(v.json.model_version.status).toBe("READY");
      expect((await s.call("POST", `${API}/registered-models/alias`, { name: "churn", alias: "champion", version: "1" })).status).toBe(200);

      // Three hours of traffic as the server logs it (class names), every row labelled by name.
      const t = rng(11);
      const labels: { request_id: string; row: number; label: string }[] = [];
      for (let h = 0; h < 3; h++) {
        for (let k = 0; k < 4; k++) {
          const rows = Array.from({ length: 150 }, () => row(t, false));
          const id = `h${h}-r${k}`;
          expect(s.inferenceLog?.offer({ ...entry(id, T0 + h * HOUR + k * 600_000, rows), classNames: CLASSES })).toBeUndefined();
          rows.forEach((x, i) => labels.push({ request_id: id, row: i, label: CLASSES[x.y] as string }));
        }
      }
      await s.inferenceLog?.flush();
      expect((await s.call("POST", `${V1}/labels`, { labels })).status).toBe(200);
    }, 60_000);
    afterAll(async () => {
      await s?.stop();
      dir.remove();
    });

    test("the version scores its training set: baseline and CBPE from the scored reference, target ids as class names", async () => {
      const spec = {
        name: "churn-scored",
        model: "churn@champion",
        window: "1h",
        reference: { target: "y", score: true },
        checks: { drift: {}, performance: { minLabelled: 20, margin: 0.1 }, cbpe: {} },
      };
      expect((await s.call("POST", `${V1}/monitors`, spec)).status).toBe(200);
      const res = await s.call("POST", `${V1}/monitors/churn-scored/run`, { until: new Date(T0 + 3 * HOUR).toISOString(), windows: 3 });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      const result = res.json.run.result;
      expect(result.reference.rows).toBe(3000);
      expect(result.reference.notes[0]).toBe(
        "scored by churn version 1 (3000 rows): prediction 'prediction', 'probability' the probability of class 'churn', target class ids written as the package's class names",
      );
      const windows = result.windows;
      // The baseline is the model's accuracy on its training set, computed here from the same rows.
      const accuracy = reference.filter((x) => (x.p >= 0.5 ? 1 : 0) === x.y).length / reference.length;
      for (const w of windows) {
        expect(w.checks.performance.baseline.accuracy).toBeCloseTo(accuracy, 3);
        expect(w.checks.performance.summary).toMatch(/within the margins of the baseline/);
        expect(w.checks.performance.labelled).toBe(600);
        expect(w.checks.cbpe.status).toBe("pass");
      }
      // The scored prediction and probability are compared with the log's: same model, same distribution.
      const drift = windows[0].checks.drift.report.columns.map((c: any) => `${c.column}:${c.role}`);
      expect(drift).toEqual(["f1:feature", "f2:feature", "f3:feature", "f4:feature", "prediction:prediction", "probability:prediction"]);
      expect(windows.map((w: any) => w.checks.drift.status)).toEqual(["pass", "pass", "pass"]);
    });

    test("a reference that has a column named prediction keeps it; the scored one is scored_label", async () => {
      const csv = join(dir.path, "with-prediction.csv");
      writeFileSync(csv, ["f1,f2,f3,f4,y,prediction", ...reference.map((x) => `${x.f.join(",")},${x.y},stale`)].join("\n") + "\n");
      const spec = { name: "churn-scored-2", model: "churn@champion", window: "1h", reference: { uri: csv, target: "y", score: true }, checks: { performance: { minLabelled: 20 } } };
      expect((await s.call("POST", `${V1}/monitors`, spec)).status).toBe(200);
      const res = await s.call("POST", `${V1}/monitors/churn-scored-2/run`, { until: new Date(T0 + HOUR).toISOString(), windows: 1 });
      expect(res.json.run.result.reference.notes[0]).toMatch(/^scored by churn version 1 \(3000 rows\): prediction 'scored_label', 'probability' the probability of class 'churn'/);
      const accuracy = reference.filter((x) => (x.p >= 0.5 ? 1 : 0) === x.y).length / reference.length;
      expect(res.json.run.result.windows[0].checks.performance.baseline.accuracy).toBeCloseTo(accuracy, 3);
    });

    test("a reference the version cannot score is a recorded error run that says why", async () => {
      // The iris package lists no features, and this reference has seven numeric columns for its four inputs.
      await registerChurn(s, writeReference(dir.path, 50), "iris3");
      expect((await s.call("POST", `${V1}/monitors`, { name: "iris-scored", model: "iris3@champion", window: "1h", reference: { target: "y", score: true }, checks: { drift: {} } })).status).toBe(200);
      const run = (await s.call("POST", `${V1}/monitors/iris-scored/run`, {})).json.run;
      expect(run.status).toBe("error");
      expect(run.result.error.code).toBe("FW_MONITOR_REFERENCE_UNAVAILABLE");
      expect(run.result.error.message).toMatch(/cannot be scored by iris3 version 1: the model's input 'float_input' takes 4 values per row, and the file has 7 numeric column/);
    });

    test("score with prediction or probability named too is refused, naming the field", async () => {
      const r = await s.call("POST", `${V1}/monitors`, { name: "bad", model: "churn", window: "1h", reference: { target: "y", score: true, prediction: "p" }, checks: { drift: {} } });
      expect(r.status).toBe(400);
      expect(r.json.message).toMatch(/reference\.score.*do not name them as well/);
    });
  });
}
