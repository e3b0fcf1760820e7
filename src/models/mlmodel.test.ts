import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { MlmodelError, formatUtcTime, modelJson, modelToDict, onnxFlavorOf, parseMlmodel, renderMlmodel } from "./mlmodel.js";
import type { ModelPackage } from "./mlmodel.js";

/**
 * An MLmodel as MLflow 2.x writes it for `mlflow.onnx.log_model(onnx_model, "model",
 * signature=..., input_example=...)`: `yaml.safe_dump(model.to_dict(), default_flow_style=False)`,
 * so keys are sorted and the long signature strings are folded at 80 columns.
 */
const MLFLOW_ONNX_MLMODEL = `artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.17.0
    providers:
    - CUDAExecutionProvider
    - CPUExecutionProvider
  python_function:
    data: model.onnx
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.onnx
    python_version: 3.11.7
mlflow_version: 2.17.2
model_size_bytes: 1912
model_uuid: 0d9c8b7a6f5e4d3c2b1a098776655443
run_id: 4f1c2b7e9a0d4c3e8b6a5f4e3d2c1b0a
saved_input_example_info:
  artifact_path: input_example.json
  format: tf-serving
  serving_input_path: serving_input_example.json
  type: ndarray
signature:
  inputs: '[{"name": "float_input", "type": "tensor", "tensor-spec": {"dtype": "float32",
    "shape": [-1, 4]}}]'
  outputs: '[{"name": "label", "type": "tensor", "tensor-spec": {"dtype": "int64",
    "shape": [-1]}}, {"name": "probabilities", "type": "tensor", "tensor-spec": {"dtype":
    "float32", "shape": [-1, 3]}}]'
  params: null
utc_time_created: '2024-11-26 08:00:00.123456'
`;

/** A scikit-learn model logged from a DataFrame: column-based signature, older ColSpecs without `required`. */
const MLFLOW_SKLEARN_MLMODEL = `artifact_path: model
databricks_runtime: 15.4.x-cpu-ml-scala2.12
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.10.12
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.3.2
mlflow_version: 2.9.2
model_uuid: 9f0e1d2c3b4a59687766554433221100
run_id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9
signature:
  inputs: '[{"type": "double", "name": "sepal length (cm)", "required": true}, {"type":
    "double", "name": "petal width (cm)", "required": false}, {"name": "tags", "type":
    "array", "items": {"type": "string"}, "required": true}, {"name": "legacy", "type": "long"}]'
  outputs: '[{"type": "long", "required": true}]'
  params: '[{"name": "threshold", "type": "double", "default": 0.5, "shape": null}]'
utc_time_created: '2024-01-10 12:34:56.789012'
`;

function fullPackage(): ModelPackage {
  return {
    runId: "4f1c2b7e9a0d4c3e8b6a5f4e3d2c1b0a",
    artifactPath: "model",
    utcTimeCreated: "2026-11-26 08:00:00.000000",
    flavors: {
      onnx: { code: null, data: "model.onnx", onnx_version: "1.17.0", providers: ["CPUExecutionProvider"] },
      python_function: { data: "model.onnx", loader_module: "mlflow.onnx", python_version: "3.11.7" },
    },
    modelUuid: "0123456789abcdef0123456789abcdef",
    mlflowVersion: "2.19.0",
    modelSizeBytes: 394,
    signature: {
      inputs: [{ type: "tensor", name: "float_input", dtype: "float32", shape: [-1, 4] }],
      outputs: [
        { type: "tensor", name: "label", dtype: "int64", shape: [-1] },
        { type: "tensor", name: "probabilities", dtype: "float32", shape: [-1, 3] },
      ],
    },
    savedInputExample: { artifactPath: "input_example.json", type: "ndarray", format: "tf-serving" },
    flywheel: {
      featureService: "churn_v1",
      features: ["a", "b", "c", "d"],
      trainingDataset: { uri: "s3://data/churn.parquet", version: "7" },
      metrics: { auc: 0.91, log_loss: 0.3 },
      classNames: ["0", "1", "2"],
      allowNan: false,
    },
    metadata: { owner: "ml-team" },
    extra: { databricks_runtime: "15.4.x-cpu-ml-scala2.12" },
  };
}

describe("parseMlmodel on MLflow's own files", () => {
  it("reads an MLmodel written by mlflow.onnx.log_model", () => {
    const pkg = parseMlmodel(MLFLOW_ONNX_MLMODEL);
    expect(pkg).toEqual({
      artifactPath: "model",
      flavors: {
        onnx: {
          code: null,
          data: "model.onnx",
          onnx_version: "1.17.0",
          providers: ["CUDAExecutionProvider", "CPUExecutionProvider"],
        },
        python_function: {
          data: "model.onnx",
          env: { conda: "conda.yaml", virtualenv: "python_env.yaml" },
          loader_module: "mlflow.onnx",
          python_version: "3.11.7",
        },
      },
      mlflowVersion: "2.17.2",
      modelSizeBytes: 1912,
      modelUuid: "0d9c8b7a6f5e4d3c2b1a098776655443",
      runId: "4f1c2b7e9a0d4c3e8b6a5f4e3d2c1b0a",
      savedInputExample: {
        artifactPath: "input_example.json",
        type: "ndarray",
        format: "tf-serving",
        details: { serving_input_path: "serving_input_example.json" },
      },
      signature: {
        inputs: [{ type: "tensor", name: "float_input", dtype: "float32", shape: [-1, 4] }],
        outputs: [
          { type: "tensor", name: "label", dtype: "int64", shape: [-1] },
          { type: "tensor", name: "probabilities", dtype: "float32", shape: [-1, 3] },
        ],
      },
      utcTimeCreated: "2024-11-26 08:00:00.123456",
    });
    expect(onnxFlavorOf(pkg).data).toBe("model.onnx");
  });

  it("writes the signature strings back exactly as MLflow wrote them", () => {
    const pkg = parseMlmodel(MLFLOW_ONNX_MLMODEL);
    const mlflowSignature = (parseYaml(MLFLOW_ONNX_MLMODEL) as { signature: unknown }).signature;
    expect(modelToDict(pkg).signature).toEqual(mlflowSignature);
  });

  it("reads a column-based signature, with and without `required`, composite types and params", () => {
    const pkg = parseMlmodel(MLFLOW_SKLEARN_MLMODEL);
    expect(pkg.signature).toEqual({
      inputs: [
        { type: "column", name: "sepal length (cm)", dataType: "double", required: true },
        { type: "column", name: "petal width (cm)", dataType: "double", required: false },
        { type: "column", name: "tags", dataType: "array", required: true, definition: { items: { type: "string" } } },
        { type: "column", name: "legacy", dataType: "long", required: true },
      ],
      outputs: [{ type: "column", dataType: "long", required: true }],
      params: [{ name: "threshold", type: "double", default: 0.5, shape: null }],
    });
    expect(pkg.extra).toEqual({ databricks_runtime: "15.4.x-cpu-ml-scala2.12" });
    expect(pkg.flavors.python_function).toMatchObject({ loader_module: "mlflow.sklearn", python_version: "3.10.12" });
    expect(() => onnxFlavorOf(pkg)).toThrow("The MLmodel has no 'onnx' flavor (its flavors: python_function, sklearn)");
    // ColSpec.to_dict order: type, then name, then required.
    expect(modelToDict(pkg).signature).toMatchObject({
      outputs: '[{"type": "long", "required": true}]',
      params: '[{"name": "threshold", "type": "double", "default": 0.5, "shape": null}]',
    });
    expect(JSON.parse((modelToDict(pkg).signature as { inputs: string }).inputs)[2]).toEqual({
      type: "array",
      items: { type: "string" },
      name: "tags",
      required: true,
    });
  });

  it("reads YAML 1.1 as PyYAML does: an unquoted timestamp and numeric versions", () => {
    const pkg = parseMlmodel(
      "flavors:\n  onnx: {data: model.onnx, onnx_version: 1.17, providers: [CPUExecutionProvider]}\n" +
        "mlflow_version: 2.9\nutc_time_created: 2024-01-10 12:34:56.789\n",
    );
    expect(pkg.utcTimeCreated).toBe("2024-01-10 12:34:56.789000");
    expect(pkg.mlflowVersion).toBe("2.9");
    expect(onnxFlavorOf(pkg)).toEqual({ code: null, data: "model.onnx", onnx_version: "1.17", providers: ["CPUExecutionProvider"] });
  });
});

describe("renderMlmodel", () => {
  it("round-trips every field", () => {
    const pkg = fullPackage();
    expect(parseMlmodel(renderMlmodel(pkg))).toEqual(pkg);
  });

  it("round-trips a column-based package", () => {
    const pkg = parseMlmodel(MLFLOW_SKLEARN_MLMODEL);
    expect(parseMlmodel(renderMlmodel(pkg))).toEqual(pkg);
  });

  it("writes the layout MLflow writes: sorted keys, JSON-string signature, quoted time", () => {
    const pkg = fullPackage();
    delete pkg.metadata;
    delete pkg.extra;
    delete pkg.flywheel;
    expect(renderMlmodel(pkg)).toBe(`artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.17.0
    providers:
    - CPUExecutionProvider
  python_function:
    data: model.onnx
    loader_module: mlflow.onnx
    python_version: 3.11.7
mlflow_version: 2.19.0
model_size_bytes: 394
model_uuid: 0123456789abcdef0123456789abcdef
run_id: 4f1c2b7e9a0d4c3e8b6a5f4e3d2c1b0a
saved_input_example_info:
  artifact_path: input_example.json
  format: tf-serving
  type: ndarray
signature:
  inputs: '[{"name": "float_input", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]'
  outputs: '[{"name": "label", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}, {"name": "probabilities", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]'
  params: null
utc_time_created: '2026-11-26 08:00:00.000000'
`);
  });

  it("writes Flywheel's metadata section with snake_case keys and strings PyYAML keeps as strings", () => {
    const text = renderMlmodel(fullPackage());
    const doc = parseYaml(text, { version: "1.1" }) as { metadata: unknown };
    expect(doc.metadata).toEqual({
      owner: "ml-team",
      flywheel: {
        feature_service: "churn_v1",
        features: ["a", "b", "c", "d"],
        training_dataset: { uri: "s3://data/churn.parquet", version: "7" },
        metrics: { auc: 0.91, log_loss: 0.3 },
        class_names: ["0", "1", "2"],
        allow_nan: false,
      },
    });
    expect(text).toContain("class_names:\n    - '0'\n");
  });

  it("gives runs/log-model the same dictionary as JSON", () => {
    const pkg = fullPackage();
    pkg.flywheel = { metrics: { auc: Number.NaN } };
    const json = JSON.parse(modelJson(pkg)) as Record<string, unknown>;
    expect(json.run_id).toBe(pkg.runId);
    expect(json.signature).toEqual(modelToDict(pkg).signature);
    expect(json.metadata).toEqual({ owner: "ml-team", flywheel: { metrics: { auc: "NaN" } } });
  });

  it("formats times as Python's %Y-%m-%d %H:%M:%S.%f", () => {
    expect(formatUtcTime(new Date(Date.UTC(2026, 10, 26, 8, 0, 0, 7)))).toBe("2026-11-26 08:00:00.007000");
  });
});

describe("parseMlmodel errors name the field", () => {
  const onnxHeader = "flavors:\n  onnx:\n    data: model.onnx\n";
  const cases: [string, string, string | undefined][] = [
    ["artifact_path: model\n", "MLmodel field 'flavors' is required", "flavors"],
    ["flavors: {}\n", "MLmodel field 'flavors' must name at least one flavor", "flavors"],
    ["flavors:\n  onnx:\n    data: 3\n", "MLmodel field 'flavors.onnx.data' must be a string (got number 3)", "flavors.onnx.data"],
    [
      "flavors:\n  onnx:\n    data: ../../etc/passwd\n",
      `MLmodel field 'flavors.onnx.data' must be a relative path inside the package (got "../../etc/passwd")`,
      "flavors.onnx.data",
    ],
    ["flavors:\n  python_function: {data: x}\n", "MLmodel field 'flavors.python_function.loader_module' is required", "flavors.python_function.loader_module"],
    [`${onnxHeader}signature:\n  inputs: '[{"type": "tensor"'\n`, "MLmodel field 'signature.inputs' is not valid JSON", "signature.inputs"],
    [
      `${onnxHeader}signature:\n  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, "4"]}}]'\n`,
      `MLmodel field 'signature.inputs[0].tensor-spec.shape[1]' must be an integer >= -1 (got the string "4")`,
      "signature.inputs[0].tensor-spec.shape[1]",
    ],
    [
      `${onnxHeader}signature:\n  inputs: '[{"name": "a", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [1]}}, {"name": "b", "type": "double"}]'\n`,
      "MLmodel field 'signature.inputs' mixes tensors and columns",
      "signature.inputs",
    ],
    [
      `${onnxHeader}signature:\n  inputs: '[{"name": "a", "type": "double"}, {"name": "a", "type": "long"}]'\n`,
      "MLmodel field 'signature.inputs[1]' repeats the name 'a'",
      "signature.inputs[1]",
    ],
    [`${onnxHeader}signature:\n  inputs: null\n  outputs: null\n`, "MLmodel field 'signature' must declare inputs, outputs or params", "signature"],
    [`${onnxHeader}metadata:\n  flywheel:\n    features: [a, a]\n`, `MLmodel field 'metadata.flywheel.features[1]' repeats "a"`, "metadata.flywheel.features[1]"],
    [`${onnxHeader}metadata:\n  flywheel:\n    metrics: {auc: high}\n`, `MLmodel field 'metadata.flywheel.metrics.auc' must be a number (got the string "high")`, "metadata.flywheel.metrics.auc"],
    [`${onnxHeader}metadata:\n  flywheel:\n    allow_nan: no-thanks\n`, `MLmodel field 'metadata.flywheel.allow_nan' must be true or false (got the string "no-thanks")`, "metadata.flywheel.allow_nan"],
    [`${onnxHeader}saved_input_example_info: {type: ndarray}\n`, "MLmodel field 'saved_input_example_info.artifact_path' is required", "saved_input_example_info.artifact_path"],
    ["- just\n- a list\n", "MLmodel must be a YAML mapping (got a list)", undefined],
    ["flavors: {onnx: {data: a}\n", "MLmodel is not valid YAML", undefined],
  ];
  for (const [text, message, field] of cases) {
    it(message, () => {
      let error: unknown;
      try {
        parseMlmodel(text);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(MlmodelError);
      expect((error as MlmodelError).message).toContain(message);
      expect((error as MlmodelError).field).toBe(field);
    });
  }
});
