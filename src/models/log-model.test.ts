import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkPackage } from "./check.js";
import { LogModelError, normalizeArtifactPath, prepareModel } from "./log-model.js";
import type { PreparedModel } from "./log-model.js";
import { modelToDict, parseMlmodel } from "./mlmodel.js";

const MODELS = new URL("../../../shared/fixtures/models/", import.meta.url);
const IRIS_PATH = new URL("iris_logreg.onnx", MODELS).pathname;
const IRIS = readFileSync(IRIS_PATH);
const RUN = { runId: "0123456789abcdef0123456789abcdef", artifactUri: "mlflow-artifacts:/1/0123456789abcdef0123456789abcdef/artifacts" };
const tmp = mkdtempSync(join(tmpdir(), "flywheel-log-model-"));

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const text = (p: PreparedModel, path: string): string => Buffer.from(p.files.find((f) => f.path === path)?.body ?? []).toString("utf8");

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(LogModelError);
    return (e as Error).message;
  }
  throw new Error("expected logModel to refuse");
}

describe("prepareModel", () => {
  it("lays out model.onnx, input_example.json and MLmodel as mlflow.onnx.log_model does", async () => {
    const now = new Date(Date.UTC(2026, 10, 26, 8, 0, 0));
    const p = await prepareModel(
      {
        onnx: IRIS_PATH,
        inputExample: [
          [5.1, 3.5, 1.4, 0.2],
          [6, 3, 4, 1],
        ],
        metadata: { featureService: "iris_v1", features: ["sl", "sw", "pl", "pw"], metrics: { accuracy: 0.97 }, classNames: ["setosa", "versicolor", "virginica"] },
      },
      RUN,
      now,
    );
    expect(p.files.map((f) => [f.path, f.contentType])).toEqual([
      ["model.onnx", "application/octet-stream"],
      ["input_example.json", "application/json"],
      ["MLmodel", "application/yaml"],
    ]);
    expect(Buffer.from(p.files[0]?.body ?? []).equals(IRIS)).toBe(true);
    expect(text(p, "input_example.json")).toBe('{"inputs": [[5.1, 3.5, 1.4, 0.2], [6.0, 3.0, 4.0, 1.0]]}');
    expect(p).toMatchObject({
      artifactPath: "model",
      modelUri: `runs:/${RUN.runId}/model`,
      source: `${RUN.artifactUri}/model`,
    });
    const pkg = parseMlmodel(text(p, "MLmodel"));
    expect(pkg).toEqual(p.package);
    expect(pkg).toMatchObject({
      runId: RUN.runId,
      artifactPath: "model",
      utcTimeCreated: "2026-11-26 08:00:00.000000",
      mlflowVersion: "2.19.0",
      flavors: {
        onnx: { code: null, data: "model.onnx", onnx_version: "1.17.0", providers: ["CPUExecutionProvider"] },
        python_function: { data: "model.onnx", loader_module: "mlflow.onnx", python_version: "3.11.7" },
      },
      signature: {
        inputs: [{ type: "tensor", name: "float_input", dtype: "float32", shape: [-1, 4] }],
        outputs: [
          { type: "tensor", name: "label", dtype: "int64", shape: [-1] },
          { type: "tensor", name: "probabilities", dtype: "float32", shape: [-1, 3] },
        ],
      },
      savedInputExample: { artifactPath: "input_example.json", type: "ndarray", format: "tf-serving" },
      flywheel: { featureService: "iris_v1", features: ["sl", "sw", "pl", "pw"], metrics: { accuracy: 0.97 } },
    });
    expect(pkg.modelUuid).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.parse(p.modelJson)).toEqual(modelToDict(pkg));
    expect((await checkPackage({ mlmodel: text(p, "MLmodel"), onnx: IRIS })).ok).toBe(true);
  });

  it("takes bytes, a nested artifact path and an explicit signature (string dtypes spelled as NumPy's)", async () => {
    const p = await prepareModel(
      {
        onnx: new Uint8Array(IRIS),
        artifactPath: "/models//iris/",
        signature: { inputs: [{ type: "tensor", name: "float_input", dtype: "float32", shape: [-1, 4] }] },
      },
      { ...RUN, artifactUri: `${RUN.artifactUri}/` },
    );
    expect(p.artifactPath).toBe("models/iris");
    expect(p.source).toBe(`${RUN.artifactUri}/models/iris`);
    expect(p.package.signature).toEqual({ inputs: [{ type: "tensor", name: "float_input", dtype: "float32", shape: [-1, 4] }] });
    expect(p.files.map((f) => f.path)).toEqual(["model.onnx", "MLmodel"]);
  });

  it("refuses an ONNX file that does not load, or cannot be read", async () => {
    const junk = join(tmp, "junk.onnx");
    writeFileSync(junk, "definitely not a protobuf");
    expect(await refusal(prepareModel({ onnx: junk }, RUN))).toMatch(
      /^Cannot log the model: the ONNX file 'junk.onnx' does not load in ONNX Runtime: ./,
    );
    expect(await refusal(prepareModel({ onnx: join(tmp, "missing.onnx") }, RUN))).toMatch(/^Cannot read the ONNX file '.*missing.onnx': ENOENT/);
  });

  it("refuses a signature that disagrees with the graph, or is malformed", async () => {
    expect(
      await refusal(prepareModel({ onnx: IRIS, signature: { inputs: [{ type: "tensor", name: "float_input", dtype: "float64", shape: [-1, 4] }] } }, RUN)),
    ).toBe("Cannot log the model: signature input 'float_input' has dtype float64 but the ONNX graph expects float32");
    expect(await refusal(prepareModel({ onnx: IRIS, signature: { inputs: [{ type: "tensor", name: "x" }] } as never }, RUN))).toBe(
      "logModel: 'signature.inputs[0].dtype' is required",
    );
  });

  it("refuses features that do not match the input's width, and malformed metadata", async () => {
    expect(await refusal(prepareModel({ onnx: IRIS, metadata: { features: ["a", "b", "c"] } }, RUN))).toBe(
      "logModel: metadata.features lists 3 features but the ONNX input 'float_input' takes 4 columns",
    );
    expect(await refusal(prepareModel({ onnx: IRIS, metadata: { feature_service: "x" } as never }, RUN))).toBe(
      "logModel: 'metadata.feature_service' is not a known field (known: featureService, features, trainingDataset, metrics, classNames, allowNan)",
    );
    expect(await refusal(prepareModel({ onnx: IRIS, metadata: { trainingDataset: { version: "1" } } as never }, RUN))).toBe(
      "logModel: 'metadata.trainingDataset.uri' is required",
    );
  });

  it("refuses an input example that does not fit the input", async () => {
    expect(await refusal(prepareModel({ onnx: IRIS, inputExample: [[1, 2, 3]] }, RUN))).toBe(
      "logModel: inputExample[0] has 3 values but the input 'float_input' takes 4",
    );
    expect(await refusal(prepareModel({ onnx: IRIS, inputExample: [[1, 2, 3, Number.NaN]] }, RUN))).toBe(
      "logModel: inputExample[0][3] must be a finite number",
    );
    expect(await refusal(prepareModel({ onnx: IRIS, inputExample: [] }, RUN))).toBe("logModel: inputExample must be a non-empty array of rows");
  });

  it("normalizes artifact paths and refuses ones that climb out", () => {
    expect(normalizeArtifactPath("model")).toBe("model");
    expect(normalizeArtifactPath("a//b/")).toBe("a/b");
    for (const bad of ["", "/", "../model", "a/./b", "a\\b"]) expect(() => normalizeArtifactPath(bad)).toThrow(LogModelError);
  });
});
